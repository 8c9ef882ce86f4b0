"""The central system (CSMS): OCPP server, store, REST API, booking, billing, OCPI.

``chargekit.central.store`` is the persistence layer every other part calls.
"""
