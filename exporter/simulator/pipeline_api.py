"""The recorder and delivery operations: ListConfigurationRecorders, DescribeConfigurationRecorder
Status and DescribeDeliveryChannelStatus, read from one (account, region)'s `Pipeline`."""

from __future__ import annotations

from collections.abc import Callable

from exporter.simulator.errors import client_error, validation_error
from exporter.simulator.paging import PageTokens, after, query_key, take
from exporter.simulator.pipeline import Delivery, Pipeline, SimulatedRecorder
from exporter.simulator.service_model import Params

LIST_RECORDERS = "ListConfigurationRecorders"
RECORDER_STATUS = "DescribeConfigurationRecorderStatus"
DELIVERY_STATUS = "DescribeDeliveryChannelStatus"

PipelineOperation = Callable[
    [dict[str, object], Pipeline, PageTokens, float, float], dict[str, object]
]


def list_recorders(
    payload: dict[str, object],
    pipeline: Pipeline,
    tokens: PageTokens,
    started_at: float,
    now: float,
) -> dict[str, object]:
    """ListConfigurationRecorders: every recorder, customer managed and service-linked, by
    name, filtered by recording scope."""
    params = Params(LIST_RECORDERS, payload)
    filters = params.get("Filters")
    scopes = {
        str(value)
        for entry in (filters if isinstance(filters, list) else [])
        if isinstance(entry, dict) and entry.get("filterName") == "recordingScope"
        for value in entry.get("filterValue") or []
    }
    query = query_key(LIST_RECORDERS, pipeline.account, pipeline.region, sorted(scopes))
    names = [recorder.name for recorder in pipeline.recorders]
    start = after(names, tokens.read(params.string("NextToken"), query))
    page, more = take(
        (
            recorder
            for recorder in pipeline.recorders[start:]
            if not scopes or recorder.scope in scopes
        ),
        params.page_size,
    )
    result: dict[str, object] = {
        "ConfigurationRecorderSummaries": [_summary(pipeline, recorder) for recorder in page]
    }
    if more:
        result["NextToken"] = tokens.issue(query, page[-1].name)
    return result


def recorder_status(
    payload: dict[str, object],
    pipeline: Pipeline,
    tokens: PageTokens,
    started_at: float,
    now: float,
) -> dict[str, object]:
    """DescribeConfigurationRecorderStatus for one recorder named by name, service principal
    or ARN; asked about none, AWS answers for the customer managed recorder only."""
    params = Params(RECORDER_STATUS, payload)
    names = params.strings("ConfigurationRecorderNames")
    principal, arn = params.string("ServicePrincipal"), params.string("Arn")
    asked = [*names, *(key for key in (principal, arn) if key is not None)]
    if len(asked) > 1:
        raise validation_error(
            asked, "configurationRecorderNames", "Specify only one configuration recorder"
        )
    if asked:
        recorders = [
            recorder
            for recorder in pipeline.recorders
            if recorder.name in names
            or (principal is not None and recorder.service_principal == principal)
            or (arn is not None and pipeline.arn(recorder) == arn)
        ]
        if not recorders:
            raise client_error(
                "NoSuchConfigurationRecorderException",
                f"Cannot find configuration recorder with the specified name '{asked[0]}'.",
            )
    else:
        recorders = [recorder for recorder in pipeline.recorders if not recorder.service_linked]
    return {
        "ConfigurationRecordersStatus": [
            _status(pipeline, recorder.effective(started_at, now)) for recorder in recorders
        ]
    }


def delivery_status(
    payload: dict[str, object],
    pipeline: Pipeline,
    tokens: PageTokens,
    started_at: float,
    now: float,
) -> dict[str, object]:
    """DescribeDeliveryChannelStatus: the named channels, or every channel of the region."""
    params = Params(DELIVERY_STATUS, payload)
    names = params.strings("DeliveryChannelNames")
    channels = [
        channel for channel in pipeline.delivery_channels if not names or (channel.name in names)
    ]
    missing = sorted(set(names) - {channel.name for channel in channels})
    if missing:
        raise client_error(
            "NoSuchDeliveryChannelException",
            f"Cannot find delivery channel with specified name '{missing[0]}'.",
        )
    return {
        "DeliveryChannelsStatus": [
            {
                "name": channel.name,
                "configHistoryDeliveryInfo": _export(channel.history, started_at),
                "configSnapshotDeliveryInfo": _export(channel.snapshot, started_at),
                "configStreamDeliveryInfo": _stream(channel.stream, started_at),
            }
            for channel in channels
        ]
    }


OPERATIONS: dict[str, PipelineOperation] = {
    LIST_RECORDERS: list_recorders,
    RECORDER_STATUS: recorder_status,
    DELIVERY_STATUS: delivery_status,
}


def _summary(pipeline: Pipeline, recorder: SimulatedRecorder) -> dict[str, object]:
    summary: dict[str, object] = {
        "arn": pipeline.arn(recorder),
        "name": recorder.name,
        "recordingScope": recorder.scope,
    }
    if recorder.service_principal is not None:
        summary["servicePrincipal"] = recorder.service_principal
    return summary


def _status(pipeline: Pipeline, recorder: SimulatedRecorder) -> dict[str, object]:
    """The status of an effective recorder: every time is resolved there."""
    status: dict[str, object] = {
        "arn": pipeline.arn(recorder),
        "name": recorder.name,
        "recording": recorder.recording,
        "lastStatus": recorder.last_status,
    }
    times = {
        "lastStartTime": recorder.started_at,
        "lastStopTime": recorder.stopped_at,
        "lastStatusChangeTime": recorder.status_changed_at,
    }
    status.update({key: round(at, 3) for key, at in times.items() if at is not None})
    status.update(_error(recorder.error_code, recorder.error_message, "last"))
    if recorder.service_principal is not None:
        status["servicePrincipal"] = recorder.service_principal
    return status


def _export(delivery: Delivery, started_at: float) -> dict[str, object]:
    attempted = started_at if delivery.attempted_at is None else delivery.attempted_at
    succeeded = delivery.succeeded_at
    if succeeded is None and delivery.status == "Success":
        succeeded = attempted
    info: dict[str, object] = {
        "lastStatus": delivery.status,
        "lastAttemptTime": round(attempted, 3),
    }
    if succeeded is not None:
        info["lastSuccessfulTime"] = round(succeeded, 3)
    info.update(_error(delivery.error_code, delivery.error_message, "last"))
    return info


def _stream(delivery: Delivery, started_at: float) -> dict[str, object]:
    changed = started_at if delivery.attempted_at is None else delivery.attempted_at
    info: dict[str, object] = {
        "lastStatus": delivery.status,
        "lastStatusChangeTime": round(changed, 3),
    }
    info.update(_error(delivery.error_code, delivery.error_message, "last"))
    return info


def _error(code: str, message: str, prefix: str) -> dict[str, object]:
    """The error members AWS sends only after a failure."""
    fields = {f"{prefix}ErrorCode": code, f"{prefix}ErrorMessage": message}
    return {key: text for key, text in fields.items() if text}
