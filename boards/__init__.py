# Board sources are data on CPython: tools stage them onto the device image.
