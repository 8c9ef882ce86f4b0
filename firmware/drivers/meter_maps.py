# Register maps of the supported energy meters, as data for firmware/drivers/meter.py.
#
# A map is (function code, blocks); each block is read with one request:
#   (first register, register count, fields)
# and each field is
#   (quantity, register offset in the block, struct format, scale to V / A / W / Hz / Wh)
# Quantities: v1 v2 v3 (V), i1 i2 i3 (A), p (total active power, W), f (Hz),
# ei / ee (total import / export active energy, Wh).
#
# Sources (addresses checked against these tables and libraries that read the meters):
# - Eastron SDM630 / SDM120 Modbus protocol: input registers (FC04), IEEE 754 float32 high
#   word first, two registers per value; energies in kWh. Up to 80 registers (40 values) per
#   request, so 0x0000-0x004B is one read; registers a model does not define read as 0.
# - ABB B23/B24 user manual (2CMC485003M0201), Modbus tables: holding registers (FC03), integers
#   high word first: energies 64-bit in 0.01 kWh from 0x5000, instantaneous values from
#   0x5B00 (voltage 32-bit 0.1 V, current 32-bit 0.01 A, power signed 32-bit 0.01 W,
#   frequency 16-bit 0.01 Hz at 0x5B2C). A quantity the meter lacks reads as all ones
#   (signed: the largest positive value).

SDM630 = (
    4,
    (
        (
            0x0000,
            76,
            (
                ("v1", 0x00, ">f", 1),
                ("v2", 0x02, ">f", 1),
                ("v3", 0x04, ">f", 1),
                ("i1", 0x06, ">f", 1),
                ("i2", 0x08, ">f", 1),
                ("i3", 0x0A, ">f", 1),
                ("p", 0x34, ">f", 1),
                ("f", 0x46, ">f", 1),
                ("ei", 0x48, ">f", 1000),
                ("ee", 0x4A, ">f", 1000),
            ),
        ),
    ),
)

# Single phase: the same layout with one voltage and one current.
SDM120 = (
    4,
    (
        (
            0x0000,
            76,
            (
                ("v1", 0x00, ">f", 1),
                ("i1", 0x06, ">f", 1),
                ("p", 0x0C, ">f", 1),
                ("f", 0x46, ">f", 1),
                ("ei", 0x48, ">f", 1000),
                ("ee", 0x4A, ">f", 1000),
            ),
        ),
    ),
)

ABB_B23 = (
    3,
    (
        (
            0x5000,
            8,
            (
                ("ei", 0x0, ">Q", 10),
                ("ee", 0x4, ">Q", 10),
            ),
        ),
        (
            0x5B00,
            45,
            (
                ("v1", 0x00, ">I", 0.1),
                ("v2", 0x02, ">I", 0.1),
                ("v3", 0x04, ">I", 0.1),
                ("i1", 0x0C, ">I", 0.01),
                ("i2", 0x0E, ">I", 0.01),
                ("i3", 0x10, ">I", 0.01),
                ("p", 0x14, ">i", 0.01),
                ("f", 0x2C, ">H", 0.01),
            ),
        ),
    ),
)

MAPS = {"sdm630": SDM630, "sdm120": SDM120, "abb_b23": ABB_B23}
