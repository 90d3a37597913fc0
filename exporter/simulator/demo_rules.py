"""Rules for the demo's packs: real AWS managed rule names topped up with look-alikes, judged
deterministically from a seed so every demo run shows the same plausible compliance."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from exporter.simulator.compliance import ComplianceChange, SimulatedRule, estimated_score

_MANAGED_RULES = (
    "access-keys-rotated",
    "acm-certificate-expiration-check",
    "alb-http-to-https-redirection-check",
    "api-gw-execution-logging-enabled",
    "autoscaling-group-elb-healthcheck-required",
    "cloud-trail-cloud-watch-logs-enabled",
    "cloud-trail-encryption-enabled",
    "cloud-trail-log-file-validation-enabled",
    "cloudtrail-enabled",
    "cloudtrail-s3-dataevents-enabled",
    "cloudwatch-alarm-action-check",
    "cmk-backing-key-rotation-enabled",
    "codebuild-project-envvar-awscred-check",
    "db-instance-backup-enabled",
    "dms-replication-not-public",
    "dynamodb-autoscaling-enabled",
    "dynamodb-pitr-enabled",
    "dynamodb-table-encrypted-kms",
    "ebs-snapshot-public-restorable-check",
    "ec2-ebs-encryption-by-default",
    "ec2-imdsv2-check",
    "ec2-instance-detailed-monitoring-enabled",
    "ec2-instance-managed-by-systems-manager",
    "ec2-instance-no-public-ip",
    "ec2-managedinstance-association-compliance-status-check",
    "ec2-managedinstance-patch-compliance-status-check",
    "ec2-stopped-instance",
    "ec2-volume-inuse-check",
    "efs-encrypted-check",
    "eip-attached",
    "elasticsearch-encrypted-at-rest",
    "elasticsearch-in-vpc-only",
    "elb-acm-certificate-required",
    "elb-deletion-protection-enabled",
    "elb-logging-enabled",
    "emr-kerberos-enabled",
    "emr-master-no-public-ip",
    "encrypted-volumes",
    "guardduty-enabled-centralized",
    "iam-group-has-users-check",
    "iam-no-inline-policy-check",
    "iam-password-policy",
    "iam-policy-no-statements-with-admin-access",
    "iam-root-access-key-check",
    "iam-user-group-membership-check",
    "iam-user-mfa-enabled",
    "iam-user-no-policies-check",
    "iam-user-unused-credentials-check",
    "incoming-ssh-disabled",
    "instances-in-vpc",
    "internet-gateway-authorized-vpc-only",
    "kms-cmk-not-scheduled-for-deletion",
    "lambda-function-public-access-prohibited",
    "lambda-inside-vpc",
    "mfa-enabled-for-iam-console-access",
    "multi-region-cloudtrail-enabled",
    "rds-automatic-minor-version-upgrade-enabled",
    "rds-enhanced-monitoring-enabled",
    "rds-instance-deletion-protection-enabled",
    "rds-instance-public-access-check",
    "rds-logging-enabled",
    "rds-multi-az-support",
    "rds-snapshot-encrypted",
    "rds-snapshots-public-prohibited",
    "rds-storage-encrypted",
    "redshift-cluster-configuration-check",
    "redshift-cluster-public-access-check",
    "redshift-require-tls-ssl",
    "restricted-ssh",
    "root-account-hardware-mfa-enabled",
    "root-account-mfa-enabled",
    "s3-account-level-public-access-blocks-periodic",
    "s3-bucket-default-lock-enabled",
    "s3-bucket-level-public-access-prohibited",
    "s3-bucket-logging-enabled",
    "s3-bucket-public-read-prohibited",
    "s3-bucket-public-write-prohibited",
    "s3-bucket-replication-enabled",
    "s3-bucket-server-side-encryption-enabled",
    "s3-bucket-ssl-requests-only",
    "s3-bucket-versioning-enabled",
    "sagemaker-endpoint-configuration-kms-key-configured",
    "sagemaker-notebook-instance-kms-key-configured",
    "sagemaker-notebook-no-direct-internet-access",
    "secretsmanager-rotation-enabled-check",
    "secretsmanager-scheduled-rotation-success-check",
    "securityhub-enabled",
    "sns-encrypted-kms",
    "vpc-default-security-group-closed",
    "vpc-flow-logs-enabled",
    "vpc-sg-open-only-to-authorized-ports",
    "vpc-vpn-2-tunnels-up",
    "wafv2-logging-enabled",
)
_RESOURCES = (
    "acm-cert",
    "apigw-stage",
    "appsync-api",
    "backup-vault",
    "cloudfront",
    "codebuild",
    "docdb-cluster",
    "ecr-repo",
    "ecs-task",
    "eks-cluster",
    "elasticache",
    "fsx",
    "kinesis-stream",
    "msk-cluster",
    "neptune-cluster",
    "opensearch",
    "rds-cluster",
    "route53-zone",
    "sqs-queue",
    "sfn-state-machine",
    "transfer-server",
    "workspaces",
)
_CHECKS = (
    "encrypted",
    "logging-enabled",
    "public-prohibited",
    "backup-enabled",
    "in-vpc",
    "tagged",
    "deletion-protection",
    "tls-required",
    "cmk-encrypted",
    "monitoring-enabled",
    "policy-restricted",
    "recovery-point-created",
    "replication-enabled",
    "iam-auth-enabled",
    "version-check",
)
CATALOGUE = _MANAGED_RULES + tuple(
    f"{resource}-{check}" for resource in _RESOURCES for check in _CHECKS
)


def demo_rules(
    seed: str, count: int, evaluated: bool = True, failure_rate: float = 0.14
) -> tuple[SimulatedRule, ...]:
    """`count` different catalogue rules picked and judged from `seed`: about `failure_rate` of
    them fail, a few on more than the 100 resources AWS counts exactly; some have no data yet."""
    names = sorted(CATALOGUE, key=lambda name: _roll(seed, name))[:count]
    if not evaluated:
        return tuple(SimulatedRule(name, "INSUFFICIENT_DATA") for name in names)
    return tuple(_judged(seed, name, failure_rate) for name in names)


def regression(rules: tuple[SimulatedRule, ...], after_seconds: float) -> ComplianceChange:
    """The first compliant rule starts failing on 4 resources, so the pack's score drops."""
    victim = next(rule for rule in rules if rule.compliance == "COMPLIANT")
    failing = replace(victim, compliance="NON_COMPLIANT", non_compliant_resources=4)
    after = tuple(failing if rule is victim else rule for rule in rules)
    return ComplianceChange(after_seconds, estimated_score(after), (failing,))


def _judged(seed: str, name: str, failure_rate: float) -> SimulatedRule:
    verdict, size = _roll(seed, name, "verdict"), _roll(seed, name, "size")
    if verdict < 0.06:
        return SimulatedRule(name, "INSUFFICIENT_DATA")
    if verdict < 0.06 + failure_rate:
        failing = 101 + int(size * 400) if size > 0.92 else 1 + int(size * 30)
        return SimulatedRule(name, "NON_COMPLIANT", failing)
    return SimulatedRule(name)


def _roll(*parts: str) -> float:
    """A number in [0, 1) fixed by `parts`: a seeded choice that needs no random module."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
