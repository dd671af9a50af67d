"""Employment Hero → Tribal Habits managed integration server."""
