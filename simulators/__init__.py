"""CPython stand-ins for the charger hardware: RFID readers, Modbus meters, EV, contactor."""
