"""AppTest runs every script in this process: Streamlit's caches outlive one AppTest, so
each test starts with empty caches (a cached loader keyed by the same demo actor would
otherwise serve another test's database)."""

import pytest
import streamlit as st


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
