"""Chat channels: the web chat (Socket.IO) with signed sessions, live handoff and the staff console."""
