"""A Modbus RTU energy meter on a TCP byte stream: the sim board's meter UART talks to it.

pymodbus serves the registers (RTU framing over TCP, one slave address); this module keeps
the electrical state and encodes it the way the real meter does::

    sim = MeterSimulator("sdm630", address=1, time_scale=60)  # 1 s counts as a minute
    port = await sim.start()              # runs in the caller's event loop
    sim.set_load(volts=230.0, amps=[16, 16, 16])
    ...
    sim.energy_wh, sim.power_w            # the exact count, for the test to compare
    sim.fault = "no_reply"                # or "crc_error", "exception", None
    await sim.close()

Models and register maps (as in firmware/drivers/meter_maps.py):

- ``sdm630`` / ``sdm120`` (Eastron): input registers (FC04) 0x0000-0x004F, float32 high word
  first, energies in kWh; registers a model does not define read as 0.0. Holding registers
  (FC03) hold a few settings (demand period, system type, parity, address, baud code).
- ``abb_b23`` (ABB B23): holding registers (FC03) only; FC04 answers exception 2.
  0x5000 import / 0x5004 export energy (uint64, 0.01 kWh: whole steps of 10 Wh, like the
  meter's counter); from 0x5B00 voltages (uint32, 0.1 V), currents (uint32, 0.01 A), powers
  (int32, 0.01 W), frequency at 0x5B2C (uint16, 0.01 Hz), power factors at 0x5B3A (int16,
  0.001); 0x8960 the type ("B23 ").

Faults: ``no_reply`` drops requests unanswered; ``crc_error`` answers with the last CRC byte
corrupted; ``exception`` answers every request with exception code 4 (slave device failure,
what a meter reports when its measuring part is at fault). Requests for another slave
address are ignored, as on an RS-485 line.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import time
from collections.abc import Sequence
from typing import Literal

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

Model = Literal["sdm630", "sdm120", "abb_b23"]
Fault = Literal["no_reply", "crc_error", "exception"]
MODELS: tuple[str, ...] = ("sdm630", "sdm120", "abb_b23")
FAULTS: tuple[str, ...] = ("no_reply", "crc_error", "exception")
EXCEPTION_CODE = ExcCodes.DEVICE_FAILURE  # the answer to everything under fault="exception"

# Register areas: (function code that reads it, first register, register count).
_AREAS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "sdm630": ((4, 0x0000, 80), (3, 0x0000, 30)),
    "sdm120": ((4, 0x0000, 80), (3, 0x0000, 30)),
    "abb_b23": ((3, 0x5000, 16), (3, 0x5B00, 62), (3, 0x8900, 2), (3, 0x8960, 2)),
}
_FUNCTIONS = {"sdm630": {3, 4, 16}, "sdm120": {3, 4, 16}, "abb_b23": {3, 6, 16}}
_WRITABLE_FC = 3  # settings (SDM holding registers) take writes; measurements are read-only


def _put(image: dict[int, int], register: int, fmt: str, *values: float) -> None:
    data = struct.pack(fmt, *values)
    for i in range(0, len(data), 2):
        image[register + i // 2] = data[i] << 8 | data[i + 1]


class MeterSimulator:
    """One meter. Energy integrates the load over real time times `time_scale`."""

    def __init__(
        self,
        model: Model = "sdm630",
        address: int = 1,
        time_scale: float = 1.0,
        *,
        energy_wh: float = 0.0,
        frequency_hz: float = 50.0,
        serial: int = 21000001,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown meter model {model!r}; known: {', '.join(MODELS)}")
        if not 1 <= address <= 247:
            raise ValueError(f"slave address {address} outside 1..247")
        self.model = model
        self.address = address
        self.time_scale = time_scale
        self.frequency_hz = frequency_hz
        self.serial = serial
        self._fault: Fault | None = None
        self.requests = 0  # requests addressed to this meter, answered or not
        self.volts = 230.0
        self.amps = [0.0, 0.0, 0.0]
        self._import_wh = float(energy_wh)
        self._export_wh = 0.0
        self._since = time.monotonic()
        self._server: ModbusTcpServer | None = None
        self.port: int | None = None

    @property
    def fault(self) -> Fault | None:
        return self._fault

    @fault.setter
    def fault(self, value: Fault | None) -> None:
        if value is not None and value not in FAULTS:
            raise ValueError(f"unknown fault {value!r}; known: {', '.join(FAULTS)}")
        self._fault = value

    # -- the electrical state --------------------------------------------------------------

    @property
    def phases(self) -> int:
        return 1 if self.model == "sdm120" else 3

    def set_load(self, volts: float = 230.0, amps: Sequence[float] = (0.0, 0.0, 0.0)) -> None:
        """Voltage on every phase and the current per phase (a single-phase meter measures
        amps[0]). Energy up to now is counted at the old load."""
        self._advance()
        currents = [float(a) for a in amps][:3]
        self.volts = float(volts)
        self.amps = currents + [0.0] * (3 - len(currents))

    @property
    def power_w(self) -> float:
        """Total active power (negative when exporting), power factor 1."""
        return sum(self.volts * a for a in self.amps[: self.phases])

    @property
    def energy_wh(self) -> float:
        """Import active energy counted so far, exact."""
        self._advance()
        return self._import_wh

    @energy_wh.setter
    def energy_wh(self, value: float) -> None:
        # For tests: a meter swapped for one with a lower count.
        self._advance()
        self._import_wh = float(value)

    @property
    def export_wh(self) -> float:
        self._advance()
        return self._export_wh

    def _advance(self) -> None:
        now = time.monotonic()
        wh = self.power_w * (now - self._since) * self.time_scale / 3600.0
        self._since = now
        if wh >= 0:
            self._import_wh += wh
        else:
            self._export_wh -= wh

    # -- register images -------------------------------------------------------------------

    def image(self, fc: int) -> dict[int, int]:
        """The registers the meter shows now in the area function `fc` reads."""
        self._advance()
        image: dict[int, int] = {}
        if self.model == "abb_b23":
            if fc == 3:
                self._abb(image)
        elif fc == 4:
            self._sdm_inputs(image)
        elif fc == 3:
            self._sdm_settings(image)
        return image

    def _sdm_inputs(self, image: dict[int, int]) -> None:
        n = self.phases
        v = [self.volts if i < n else 0.0 for i in range(3)]
        a = [self.amps[i] if i < n else 0.0 for i in range(3)]  # signed: export is negative
        p = [v[i] * a[i] for i in range(3)]
        for register in range(0x0000, 0x0050, 2):
            _put(image, register, ">f", 0.0)
        values = {
            0x48: self._import_wh / 1000.0,
            0x4A: self._export_wh / 1000.0,
            0x46: self.frequency_hz,
            0x34: sum(p),
            0x38: sum(abs(x) for x in p),  # VA at power factor 1
            0x3E: 1.0,
            0x2A: sum(v) / n,
            0x2E: sum(a) / n,
            0x30: sum(a),
        }
        for i in range(3):
            values.update(
                {
                    0x00 + 2 * i: v[i],
                    0x06 + 2 * i: a[i],
                    0x0C + 2 * i: p[i],
                    0x12 + 2 * i: abs(p[i]),
                    0x1E + 2 * i: 1.0 if i < n else 0.0,
                }
            )
        for register, value in values.items():
            _put(image, register, ">f", value)

    def _sdm_settings(self, image: dict[int, int]) -> None:
        for register in range(0x0000, 0x001E, 2):
            _put(image, register, ">f", 0.0)
        _put(image, 0x0000, ">f", 60.0)  # demand period, minutes
        _put(image, 0x000A, ">f", 3.0 if self.phases == 3 else 1.0)  # system type
        _put(image, 0x0014, ">f", float(self.address))
        _put(image, 0x001C, ">f", 2.0)  # baud code: 9600

    def _abb(self, image: dict[int, int]) -> None:
        # Counters show whole 0.01 kWh steps; instantaneous values round to their unit.
        _put(image, 0x5000, ">Q", int(self._import_wh // 10))
        _put(image, 0x5004, ">Q", int(self._export_wh // 10))
        _put(image, 0x5008, ">q", int((self._import_wh - self._export_wh) // 10))
        _put(image, 0x500C, ">Q", 0)  # reactive import
        v = [round(self.volts * 10)] * 3
        a = [round(abs(x) * 100) for x in self.amps]
        p = [round(self.volts * x * 100) for x in self.amps]
        line = round(self.volts * 3**0.5 * 10)
        _put(image, 0x5B00, ">IIIIII", *v, line, line, line)
        _put(image, 0x5B0C, ">IIII", *a, 0)  # L1-L3, neutral
        _put(image, 0x5B14, ">iiii", sum(p), *p)
        _put(image, 0x5B1C, ">iiii", 0, 0, 0, 0)  # reactive
        _put(image, 0x5B24, ">iiii", sum(abs(x) for x in p), *(abs(x) for x in p))
        _put(image, 0x5B2C, ">H", round(self.frequency_hz * 100))
        for register in range(0x5B2D, 0x5B3A):
            image[register] = 0  # phase angles
        _put(image, 0x5B3A, ">hhhh", 1000, 1000, 1000, 1000)
        _put(image, 0x8900, ">I", self.serial)
        image[0x8960], image[0x8961] = 0x4232, 0x3320  # "B23 "

    # -- the Modbus server -----------------------------------------------------------------

    def _device(self) -> SimDevice:
        areas: dict[int, list[SimData]] = {3: [], 4: []}
        for fc, first, count in _AREAS[self.model]:
            image = self.image(fc)
            areas[fc].append(
                SimData(
                    first,
                    values=[image.get(first + i, 0) for i in range(count)],
                    datatype=DataType.REGISTERS,
                    readonly=not (fc == _WRITABLE_FC and self.model != "abb_b23"),
                )
            )
        if not areas[4]:  # pymodbus wants every area defined: unused ones hold one
            areas[4].append(SimData(0xFFFE, datatype=DataType.INVALID))  # invalid register
        no_bits = [SimData(0xFF00, values=[False] * 16, datatype=DataType.BITS)]
        return SimDevice(
            self.address,
            simdata=(no_bits, list(no_bits), areas[3], areas[4]),
            action=self._action,
        )

    async def _action(
        self,
        fc: int,
        first: int,
        _address: int,
        _count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        # Runs before pymodbus answers: refresh the area from the state.
        if self.fault == "exception":
            return EXCEPTION_CODE
        if fc not in _FUNCTIONS[self.model]:
            return ExcCodes.ILLEGAL_FUNCTION
        if values is None:
            area = 4 if fc == 4 else 3
            for register, value in self.image(area).items():
                offset = register - first
                if 0 <= offset < len(registers):
                    registers[offset] = value
        return None

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU | None:
        if sending:
            return pdu
        if pdu.dev_id != self.address:
            return None  # another slave's request: stay silent
        self.requests += 1
        if self.fault == "no_reply":
            return None
        return pdu

    def _trace_packet(self, sending: bool, packet: bytes) -> bytes:
        if sending and self.fault == "crc_error" and packet:
            return packet[:-1] + bytes((packet[-1] ^ 0xFF,))
        return packet

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0: any free port) in the running loop; returns the port."""
        self._server = ModbusTcpServer(
            self._device(),
            framer=FramerType.RTU,
            address=(host, port),
            trace_packet=self._trace_packet,
            trace_pdu=self._trace_pdu,  # type: ignore[arg-type]  # None drops a request
        )
        await self._server.serve_forever(background=True)
        listener = self._server.transport
        self.port = listener.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None


async def _serve(args: argparse.Namespace) -> None:
    sim = MeterSimulator(args.model, args.address, args.time_scale)
    sim.set_load(args.volts, [args.amps] * 3)
    port = await sim.start(args.host, args.port)
    print(f"{args.model} at address {args.address} on {args.host}:{port} (Modbus RTU over TCP)")
    try:
        while True:
            await asyncio.sleep(10)
            print(f"{sim.energy_wh:.1f} Wh, {sim.power_w:.0f} W")
    finally:
        await sim.close()


def main(argv: Sequence[str] | None = None) -> None:
    """python -m chargekit.simulators.meter --model abb_b23 --port 5020 --amps 16"""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=MODELS, default="sdm630")
    parser.add_argument("--address", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5020)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--volts", type=float, default=230.0)
    parser.add_argument("--amps", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
