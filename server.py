"""The server: the dashboard (`app.py`) and the HTTP API (`api/`, under /api/) in one
process. `streamlit run server.py` (what `make run` does) finds `app` and serves both."""

import streamlit as st

import api

app = st.App("app.py", routes=api.routes(), middleware=api.middleware(), lifespan=api.lifespan)
