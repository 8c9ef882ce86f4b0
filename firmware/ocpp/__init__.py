# The charge point's OCPP 1.6J client. Import the submodule you need
# (`from firmware.ocpp import rpc`): nothing is loaded here, so unused parts cost no RAM.
