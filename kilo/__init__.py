"""Kilo for Enterprise: the service layer behind the dashboard (no Streamlit here)."""
