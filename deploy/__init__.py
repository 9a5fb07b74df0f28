"""Running the app for a room: several Streamlit processes behind Caddy, sharing state on Redis (`deploy/room.py`)."""
