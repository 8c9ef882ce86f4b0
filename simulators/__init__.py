"""CPython stand-ins for the charger hardware: RFID readers, Modbus meters, EV, contactor."""

# The sim board's micropython heap. The firmware with its OCPP client fragments a 256 KB heap
# on the 64-bit unix port until a reconnect cannot get its 4 KB frame buffer (a central killed
# mid-charge never saw the station again; docs/performance.md). Until the modules are frozen
# into flash (issue 10), the sim board gets 512 KB.
DEFAULT_HEAP = "512k"
