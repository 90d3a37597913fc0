"""`ConfigSimulator`: one loopback server that answers AWS Config and STS from a `Scenario`,
counts every call and applies the faults in force, while its user (a test, a benchmark, or
`python -m exporter.simulator --fault ... --calls`) changes both at will."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from email.message import Message
from types import TracebackType

from exporter.simulator.aggregator import SimulatedAggregator
from exporter.simulator.errors import ApiError
from exporter.simulator.estate import Estate
from exporter.simulator.faults import Fault, FaultBook, faulted
from exporter.simulator.organization import OrganizationPack
from exporter.simulator.packs import SimulatedPack
from exporter.simulator.paging import PageTokens
from exporter.simulator.pipeline import SimulatedDeliveryChannel, SimulatedRecorder
from exporter.simulator.scenario import Scenario
from exporter.simulator.sts import AssumeRoleCall, Identities
from exporter.simulator.transport import HttpServer, Outcome, Reply
from exporter.simulator.wire import Request, error_reply, json_reply, read_request, xml_reply


class ConfigSimulator:
    """An HTTP server answering AWS Config and STS calls from a `Scenario`, with fault knobs.

    Every knob is thread-safe and may be changed while requests are in flight.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Serve `scenario`, or an empty estate of the default account without one."""
        scenario = scenario or Scenario(packs={})
        self._address = (host, port)
        self._clock = clock
        self._lock = threading.Lock()
        self._estate = Estate(scenario)
        self._identities = Identities(
            scenario.default_account,
            scenario.access_key_accounts,
            scenario.denied_roles,
            scenario.role_external_ids,
            clock,
        )
        self._faults = FaultBook()
        self._calls: Counter[tuple[str, str, str, str]] = Counter()
        self._tokens = PageTokens()
        self._stopping = threading.Event()
        self._server: HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._started_at = clock()

    def start(self) -> None:
        """Bind the socket and serve from a daemon thread; timelines start counting now."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._started_at = self._clock()
        self._server = HttpServer(self._address, self._respond, self._stopping)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"config-simulator:{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the listening socket and drop open client connections."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join()

    def __enter__(self) -> ConfigSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The endpoint URL to give boto3 clients."""
        if self._server is None:
            raise RuntimeError("simulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def started_at(self) -> float:
        """The clock reading that timeline offsets count from."""
        return self._started_at

    @property
    def latency(self) -> float:
        """Seconds added before every answer, on top of any ``latency`` faults."""
        return self._faults.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._faults.latency = seconds

    def set_packs(self, account: str, region: str, packs: Iterable[SimulatedPack]) -> None:
        """Replace the packs of one (account, region) while serving."""
        self._estate.set_packs(account, region, packs)

    def set_organization_packs(
        self, account: str, region: str, packs: Iterable[OrganizationPack]
    ) -> None:
        """Replace the organization packs of one management (account, region) while serving."""
        self._estate.set_organization_packs(account, region, packs)

    def set_aggregators(
        self, account: str, region: str, aggregators: Iterable[SimulatedAggregator]
    ) -> None:
        """Replace the aggregators reachable from one (account, region) while serving."""
        self._estate.set_aggregators(account, region, aggregators)

    def set_recorders(
        self, account: str, region: str, recorders: Iterable[SimulatedRecorder]
    ) -> None:
        """Replace the configuration recorders of one (account, region) while serving."""
        self._estate.set_pipeline(account, region, recorders=recorders)

    def set_delivery_channels(
        self, account: str, region: str, channels: Iterable[SimulatedDeliveryChannel]
    ) -> None:
        """Replace the delivery channels of one (account, region) while serving."""
        self._estate.set_pipeline(account, region, delivery_channels=channels)

    def add_fault(self, fault: Fault) -> None:
        """Inject `fault`; when several match a request, the earliest added applies."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Remove every fault; the global latency is kept."""
        self._faults.clear()

    def calls(
        self,
        operation: str | None = None,
        region: str | None = None,
        account: str | None = None,
        service: str | None = None,
    ) -> int:
        """HTTP requests received so far, faulted or not, matching every filter given."""
        return sum(
            seen
            for (call_service, call_operation, call_region, call_account), seen in (
                self.call_counts().items()
            )
            if operation in (None, call_operation)
            and region in (None, call_region)
            and account in (None, call_account)
            and service in (None, call_service)
        )

    def call_counts(self) -> dict[tuple[str, str, str, str], int]:
        """HTTP requests received so far by (service, operation, region, account), sorted."""
        with self._lock:
            return dict(sorted(self._calls.items()))

    def reset_calls(self) -> None:
        """Forget counted calls and recorded AssumeRole calls."""
        with self._lock:
            self._calls.clear()
        self._identities.forget_calls()

    @property
    def assume_role_calls(self) -> tuple[AssumeRoleCall, ...]:
        """Every AssumeRole request that reached the operation, granted or not."""
        return self._identities.assume_role_calls

    def _respond(self, headers: Message, body: bytes) -> Outcome:
        """Turn one HTTP request into the reply, delay and wire behaviour to apply."""
        request_id = str(uuid.uuid4())
        request, error = read_request(headers, body, self._identities.account_for)
        with self._lock:
            self._calls[(request.service, request.operation, request.region, request.account)] += 1
        if error is not None:
            return Outcome(error_reply(request.protocol, error, request_id))
        delay, fault = self._faults.take(request)
        return faulted(
            fault,
            delay,
            request,
            request_id,
            self._identities.caller_arn,
            lambda: self._answer(request, request_id),
        )

    def _answer(self, request: Request, request_id: str) -> Reply:
        try:
            self._identities.check_credentials(request)
            if request.service == "sts":
                return self._answer_sts(request, request_id)
            document = self._estate.answer(request, self._tokens, self._started_at, self._clock())
            return json_reply(200, document, request_id)
        except ApiError as error:
            return error_reply(request.service, error, request_id)

    def _answer_sts(self, request: Request, request_id: str) -> Reply:
        params = {key: values[0] for key, values in request.form.items()}
        if request.operation == "GetCallerIdentity":
            return xml_reply(
                request.operation, self._identities.caller_identity(request), request_id
            )
        if request.operation == "AssumeRole":
            return xml_reply(
                request.operation, self._identities.assume_role(request, params), request_id
            )
        raise ApiError.of("unknown_operation", "sts", operation=request.operation)
