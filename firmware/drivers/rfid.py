# What the two RFID readers share: options, the polling task, the hold-off rule (a card held
# on the reader counts once) and online/failure reporting that logs each change only once.
#
# firmware.app picks the driver named by settings["reader"]:
#   reader = rfid.reader(settings["reader"], board.rfid_uart, hold_off_ms=1500)
#   reader.on_tag = auth.card_presented     # sync callable(id_tag), may be None
#   reader.start()
# Both drivers have the same interface: Reader(stream, **options), start(), deinit(),
# on_tag, online, failure ("ReaderFailure: ..." or None), last_tag (the last idTag counted).
import time

from firmware import log
from firmware.drivers.poller import Poller

TAG = "rfid"
_MAX_CARD = 10  # bytes kept to recognise the card on the reader (a 10-byte UID, 10 RDM chars)


def reader(kind, stream, **options):
    """The driver for settings["reader"]: "pn532" or "rdm6300". Imported on demand, so the
    unused one costs no RAM."""
    if kind == "pn532":
        from firmware.drivers import pn532 as module
    elif kind == "rdm6300":
        from firmware.drivers import rdm6300 as module
    else:
        raise ValueError("unknown reader " + repr(kind))
    return module.Reader(stream, **options)


class TagReader(Poller):
    """Base of the drivers. Keyword options override the class attributes of the same name."""

    hold_off_ms = 1500  # a card counts again only after it was away this long
    on_tag = None  # callable(id_tag), called when a card counts
    # True when the driver sees absence (a poll that found no card); False when absence is
    # only the lack of frames (the RDM6300, which cannot be asked).
    _polled = True

    def __init__(self, stream, **options):
        for name, value in options.items():
            if name.startswith("_") or not hasattr(self, name):
                raise ValueError("unknown option " + name)
            setattr(self, name, value)
        self.stream = stream
        self.online = False
        self.failure = None
        self.last_tag = None
        self.tags = 0  # cards counted
        self._card = bytearray(_MAX_CARD)
        self._card_len = 0
        self._seen_at = 0  # ticks the card on the reader was last seen
        self._gone_at = None  # ticks a poll first found it gone (polled readers)

    # -- cards ---------------------------------------------------------------------------
    def _present(self, buf, start, n, now):
        """A card (buf[start:start + n]) is on the reader at `now`: True when it counts, that
        is when it differs from the last one or that one was away for hold_off_ms."""
        card = self._card
        same = n == self._card_len
        if same:
            for i in range(n):
                if card[i] != buf[start + i]:
                    same = False
                    break
        if same:
            gone = self._gone_at if self._polled else self._seen_at
            again = gone is not None and time.ticks_diff(now, gone) >= self.hold_off_ms
        else:
            for i in range(n):
                card[i] = buf[start + i]
            self._card_len = n
            again = True
        self._seen_at = now
        self._gone_at = None
        return again

    def _absent(self, now):
        """A poll found no card: the hold-off time of the last card runs from the first one."""
        if self._gone_at is None:
            self._gone_at = now

    def _count(self, id_tag):
        self.last_tag = id_tag
        self.tags += 1
        log.info(TAG, "card", id_tag)
        callback = self.on_tag
        if callback is not None:
            try:
                callback(id_tag)
            except Exception as exc:  # a bad handler must not stop the reader
                log.error(TAG, "on_tag failed:", repr(exc))

    # -- health --------------------------------------------------------------------------
    def _fault(self, why):
        """Offline with `why` ("ReaderFailure: ..."); logged when it changes, not every retry."""
        if why != self.failure:
            log.warn(TAG, why)
        self.online = False
        self.failure = why

    def _up(self):
        if not self.online:
            log.info(TAG, "reader online")
        self.online = True
        self.failure = None
