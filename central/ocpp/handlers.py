"""`CentralChargePoint`: the `ocpp` library's ChargePoint with one `@on` handler per
charge-point-to-central action of OCPP 1.6, each converting the payload into the domain's
value types (ports.py) and delegating to the `CsmsDomain`.

The library validates every request and every answer against its bundled JSON schemas
(schema validation stays on). Handlers never `await self.call()`: the receive loop runs them
inline, so a handler waiting for the station's answer would wait for itself. Commands to the
station go through `call_raw` from another task (commands.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, validate_payload
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from chargekit.protocol import rfc3339

from .errors import CommandRejected, InvalidResponse
from .ports import BootInfo, CsmsDomain, IdTagInfo, MeterValue, SampledValue

WIRE_LOG = logging.getLogger("chargekit.central.ocpp.wire")
# The `ocpp` library logs every frame at INFO: payloads carry secrets (ChangeConfiguration
# AuthorizationKey, SendLocalList) and at thousands of stations the lines cost real CPU. Frames
# are logged only when this logger is set to DEBUG (`log_level = "trace"`).
WIRE_LOG.setLevel(logging.WARNING)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: str) -> datetime:
    """Aware UTC datetime of an RFC 3339 date-time (validated before it gets here)."""
    return _EPOCH + timedelta(milliseconds=rfc3339.parse_ms(text))


def format_time(moment: datetime) -> str:
    """RFC 3339 with Z, milliseconds only when there are any."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> str:
    return format_time(datetime.now(UTC))


def id_tag_info_payload(info: IdTagInfo) -> dict[str, Any]:
    """Snake-case idTagInfo for a call_result (the library camelCases it and drops Nones)."""
    return {
        "status": info.status,
        "expiry_date": format_time(info.expiry_date) if info.expiry_date else None,
        "parent_id_tag": info.parent_id_tag,
    }


def meter_values_of(items: list[dict[str, Any]] | None) -> tuple[MeterValue, ...]:
    """MeterValue tuples from the library's snake-cased meterValue / transactionData lists."""
    out = []
    for item in items or ():
        samples = tuple(
            SampledValue(**{k: v for k, v in sample.items() if v is not None})
            for sample in item["sampled_value"]
        )
        out.append(MeterValue(parse_time(item["timestamp"]), samples))
    return tuple(out)


class CentralChargePoint(ChargePoint):
    """One station's OCPP session on the central side.

    `heartbeat_interval` is None until a BootNotification on this connection was answered.
    """

    def __init__(
        self,
        station_id: str,
        connection: Any,
        domain: CsmsDomain,
        *,
        response_timeout: float = 30,
        id_factory: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(station_id, connection, response_timeout, logger=WIRE_LOG)
        self.domain = domain
        self.heartbeat_interval: int | None = None
        self.registration: str | None = None
        if id_factory is not None:
            self._unique_id_generator = id_factory

    # --- charge point -> central system -------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(
        self,
        charge_point_vendor: str,
        charge_point_model: str,
        charge_point_serial_number: str | None = None,
        charge_box_serial_number: str | None = None,
        firmware_version: str | None = None,
        iccid: str | None = None,
        imsi: str | None = None,
        meter_type: str | None = None,
        meter_serial_number: str | None = None,
    ) -> call_result.BootNotification:
        info = BootInfo(
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial=charge_point_serial_number,
            charge_box_serial=charge_box_serial_number,
            firmware_version=firmware_version,
            iccid=iccid,
            imsi=imsi,
            meter_type=meter_type,
            meter_serial=meter_serial_number,
        )
        result = await self.domain.boot(self.id, info)
        self.registration, self.heartbeat_interval = result.status, result.interval
        return call_result.BootNotification(
            current_time=_now(), interval=result.interval, status=result.status
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        await self.domain.heartbeat(self.id)
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    async def on_status_notification(
        self,
        connector_id: int,
        error_code: str,
        status: str,
        info: str | None = None,
        timestamp: str | None = None,
        vendor_id: str | None = None,
        vendor_error_code: str | None = None,
    ) -> call_result.StatusNotification:
        await self.domain.status_notification(
            self.id,
            connector_id=connector_id,
            status=status,
            error_code=error_code,
            info=info,
            timestamp=parse_time(timestamp) if timestamp else None,
            vendor_id=vendor_id,
            vendor_error_code=vendor_error_code,
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        info = await self.domain.authorize(self.id, id_tag)
        return call_result.Authorize(id_tag_info=id_tag_info_payload(info))

    @on(Action.start_transaction)
    async def on_start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        reservation_id: int | None = None,
    ) -> call_result.StartTransaction:
        result = await self.domain.start_transaction(
            self.id,
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start=meter_start,
            timestamp=parse_time(timestamp),
            reservation_id=reservation_id,
        )
        return call_result.StartTransaction(
            transaction_id=result.transaction_id,
            id_tag_info=id_tag_info_payload(result.id_tag_info),
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        reason: str | None = None,
        id_tag: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
    ) -> call_result.StopTransaction:
        info = await self.domain.stop_transaction(
            self.id,
            transaction_id=transaction_id,
            meter_stop=meter_stop,
            timestamp=parse_time(timestamp),
            reason=reason or "Local",  # 1.6: may only be omitted when the reason is Local
            id_tag=id_tag,
            transaction_data=meter_values_of(transaction_data),
        )
        return call_result.StopTransaction(
            id_tag_info=id_tag_info_payload(info) if info is not None else None
        )

    @on(Action.meter_values)
    async def on_meter_values(
        self,
        connector_id: int,
        meter_value: list[dict[str, Any]],
        transaction_id: int | None = None,
    ) -> call_result.MeterValues:
        await self.domain.meter_values(
            self.id,
            connector_id=connector_id,
            transaction_id=transaction_id,
            meter_values=meter_values_of(meter_value),
        )
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> call_result.DataTransfer:
        result = await self.domain.data_transfer(
            self.id, vendor_id=vendor_id, message_id=message_id, data=data
        )
        return call_result.DataTransfer(status=result.status, data=result.data)

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(
        self, status: str
    ) -> call_result.DiagnosticsStatusNotification:
        await self.domain.diagnostics_status(self.id, status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(
        self, status: str
    ) -> call_result.FirmwareStatusNotification:
        await self.domain.firmware_status(self.id, status)
        return call_result.FirmwareStatusNotification()

    # --- central system -> charge point -------------------------------------------------------

    async def call_raw(
        self,
        action: str,
        payload: dict[str, Any],
        *,
        timeout: float,
        on_sent: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Send a CALL with a wire (camelCase) payload already validated by the caller and
        return the station's CALLRESULT payload, checked against the response schema.

        Uses the library's own call lock and response queue (one CALL outstanding per
        station, answers matched by id) but skips its dataclass round trip, so the answer
        and an error code outside the library's list both come back unchanged. Raises
        CommandRejected, InvalidResponse, or TimeoutError (`timeout` counts from sending).
        """
        unique_id = str(self._unique_id_generator())
        text = Call(unique_id, action, payload).to_json()
        async with self._call_lock:  # one CALL outstanding per side (OCPP-J 4.1.1)
            await self._send(text)
            if on_sent is not None:
                on_sent(unique_id)
            response = await self._get_specific_response(unique_id, timeout)
        if isinstance(response, CallError):
            raise CommandRejected(
                self.id,
                action,
                str(response.error_code),
                str(response.error_description or ""),
                response.error_details if isinstance(response.error_details, dict) else {},
            )
        answer = response.payload
        # validate_payload may swap the payload for a Decimal-parsed copy (schedules): check a
        # separate message object so the caller gets the plain JSON values.
        try:
            await validate_payload(CallResult(unique_id, answer, action), self._ocpp_version)
        except OCPPError as exc:
            cause = exc.details.get("cause") if isinstance(exc.details, dict) else None
            raise InvalidResponse(
                self.id, action, exc.code, str(cause or exc.description), answer
            ) from None
        return answer
