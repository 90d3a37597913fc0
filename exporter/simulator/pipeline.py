"""The Config pipeline under the packs of one (account, region): configuration recorders, customer
managed or service-linked, and delivery channels, so tests and the demo can show a recorder that
stops or a delivery that fails while the packs keep their last verdicts."""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field, replace

from exporter.simulator.service_model import conforms, enum_values


@dataclass(frozen=True)
class RecorderChange:
    """A scheduled change of a recorder, counted from the simulator's start: it starts or stops
    recording, or its last recording event gets a new status (None: unchanged)."""

    after_seconds: float
    recording: bool | None = None
    last_status: str | None = None
    error_code: str = ""
    error_message: str = ""

    def __post_init__(self) -> None:
        _check_enum("RecorderStatus", self.last_status)


@dataclass(frozen=True)
class SimulatedRecorder:
    """One configuration recorder; service-linked when it has a `service_principal`.

    Times are epoch seconds; None for `started_at` (or `stopped_at` of a recorder that is not
    recording) means the simulator's start, and `status_changed_at` defaults to the latest of
    them. `recording_scope` defaults to PAID for a customer managed recorder and INTERNAL for a
    service-linked one.
    """

    name: str = "default"
    _: KW_ONLY
    recording: bool = True
    last_status: str = "Success"
    service_principal: str | None = None
    recording_scope: str | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    status_changed_at: float | None = None
    error_code: str = ""
    error_message: str = ""
    timeline: tuple[RecorderChange, ...] = ()

    def __post_init__(self) -> None:
        _check_enum("RecorderStatus", self.last_status)
        _check_enum("RecordingScope", self.recording_scope)
        if not conforms("RecorderName", self.name):
            raise ValueError(f"recorder name {self.name!r} is not a RecorderName")
        if self.service_principal is not None and not conforms(
            "ServicePrincipal", self.service_principal
        ):
            raise ValueError(f"{self.name}: {self.service_principal!r} is not a ServicePrincipal")

    @property
    def service_linked(self) -> bool:
        """Whether another AWS service owns this recorder."""
        return self.service_principal is not None

    @property
    def scope(self) -> str:
        """The recording scope ListConfigurationRecorders reports."""
        if self.recording_scope is not None:
            return self.recording_scope
        return "INTERNAL" if self.service_linked else "PAID"

    def arn(self, account: str, region: str) -> str:
        """The ARN AWS gives this recorder, reproducible from its account, region and name."""
        digest = hashlib.sha256(f"{account}/{region}/{self.name}".encode()).digest()
        suffix = base64.b32encode(digest).decode()[:12].lower()
        return f"arn:aws:config:{region}:{account}:configuration-recorder/{self.name}/{suffix}"

    def effective(self, started_at: float, now: float) -> SimulatedRecorder:
        """The recorder at `now` after every change due since `started_at`, with every time
        resolved to a number (stop time None only when it never stopped)."""
        start = started_at if self.started_at is None else self.started_at
        stop = self.stopped_at
        if stop is None and not self.recording:
            stop = started_at
        current = replace(self, started_at=start, stopped_at=stop, timeline=())
        changed_at = self.status_changed_at
        for change in sorted(self.timeline, key=lambda step: step.after_seconds):
            if now - started_at < change.after_seconds:
                break
            at = started_at + change.after_seconds
            if change.recording and not current.recording:
                current = replace(current, recording=True, started_at=at)
            elif change.recording is False and current.recording:
                current = replace(current, recording=False, stopped_at=at)
            if change.last_status is not None:
                current = replace(
                    current,
                    last_status=change.last_status,
                    error_code=change.error_code,
                    error_message=change.error_message,
                )
                changed_at = at
        if changed_at is None:
            changed_at = max(current.started_at or start, current.stopped_at or start)
        return replace(current, status_changed_at=changed_at)


@dataclass(frozen=True)
class Delivery:
    """The last delivery of one kind (history, snapshot or stream) of a delivery channel.

    None for `attempted_at` means the simulator's start; `succeeded_at` defaults to the attempt
    when it succeeded and is left out otherwise (never succeeded). For the stream,
    `attempted_at` is the last status change.
    """

    status: str = "Success"
    _: KW_ONLY
    attempted_at: float | None = None
    succeeded_at: float | None = None
    error_code: str = ""
    error_message: str = ""

    def __post_init__(self) -> None:
        _check_enum("DeliveryStatus", self.status)


@dataclass(frozen=True)
class SimulatedDeliveryChannel:
    """One delivery channel and how its deliveries last went; Config has no stream by default."""

    name: str = "default"
    _: KW_ONLY
    history: Delivery = field(default_factory=Delivery)
    snapshot: Delivery = field(default_factory=Delivery)
    stream: Delivery = field(default_factory=lambda: Delivery("Not_Applicable"))

    def __post_init__(self) -> None:
        if not conforms("ChannelName", self.name):
            raise ValueError(f"delivery channel name {self.name!r} is not a ChannelName")


def healthy_pipeline(now: float) -> tuple[SimulatedRecorder, SimulatedDeliveryChannel]:
    """A recorder recording for a day and a channel whose history and snapshot were delivered
    an hour ago, as `now` is: what a healthy (account, region) holds."""
    channel = SimulatedDeliveryChannel(
        "default",
        history=Delivery(attempted_at=now - 3600),
        snapshot=Delivery(attempted_at=now - 3600),
    )
    return SimulatedRecorder("default", started_at=now - 86400), channel


class Pipeline:
    """One (account, region)'s recorders, sorted by name for paging, and delivery channels.

    AWS allows one customer managed recorder and one delivery channel per region, and one
    service-linked recorder per service principal.
    """

    def __init__(
        self,
        account: str,
        region: str,
        recorders: Iterable[SimulatedRecorder] = (),
        delivery_channels: Iterable[SimulatedDeliveryChannel] = (),
    ) -> None:
        self.account = account
        self.region = region
        self.recorders = tuple(sorted(recorders, key=lambda recorder: recorder.name))
        self.delivery_channels = tuple(delivery_channels)
        owners = Counter(recorder.service_principal for recorder in self.recorders)
        names = Counter(recorder.name for recorder in self.recorders)
        where = f"{account}/{region}"
        if any(seen > 1 for seen in (*owners.values(), *names.values())):
            raise ValueError(
                f"{where}: one recorder per name, one customer managed and one per service"
                f" principal at most, got {[recorder.name for recorder in self.recorders]}"
            )
        if len(self.delivery_channels) > 1:
            raise ValueError(f"{where}: AWS allows one delivery channel per region")

    def arn(self, recorder: SimulatedRecorder) -> str:
        """`recorder`'s ARN here."""
        return recorder.arn(self.account, self.region)

    def replaced(
        self,
        recorders: Iterable[SimulatedRecorder] | None = None,
        delivery_channels: Iterable[SimulatedDeliveryChannel] | None = None,
    ) -> Pipeline:
        """This pipeline with its recorders or its delivery channels replaced."""
        return Pipeline(
            self.account,
            self.region,
            self.recorders if recorders is None else recorders,
            self.delivery_channels if delivery_channels is None else delivery_channels,
        )


def pipelines(
    recorders: Mapping[tuple[str, str], Iterable[SimulatedRecorder]],
    delivery_channels: Mapping[tuple[str, str], Iterable[SimulatedDeliveryChannel]],
) -> dict[tuple[str, str], Pipeline]:
    """The pipeline of every (account, region) a scenario gives recorders or channels."""
    return {
        target: Pipeline(*target, recorders.get(target, ()), delivery_channels.get(target, ()))
        for target in {*recorders, *delivery_channels}
    }


def _check_enum(shape_name: str, value: str | None) -> None:
    allowed = enum_values(shape_name)
    if value is not None and value not in allowed:
        raise ValueError(f"{value!r} is not a {shape_name}: expected one of {allowed}")
