# Starts the charge point: firmware/start.py (maintenance jumper, reboot after an error).
import board

from firmware import start

start.main(board)
