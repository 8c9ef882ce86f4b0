# Code shared by the firmware and the central system; runs unchanged on MicroPython and
# CPython. Modules import each other only relatively, so this folder loads as `protocol` on a
# device and as `chargekit.protocol` on CPython. Import the module you need: nothing is
# loaded here, to keep RAM free on the device.
