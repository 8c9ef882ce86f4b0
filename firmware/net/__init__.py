# Networking for the station: the WebSocket client the OCPP link runs on (websocket.py) and
# the reconnect backoff (backoff.py). Import the submodules by name; nothing is loaded here.
