"""Model Access tab: the provider and model catalogue, filters, and the organization's rules.

Everyone may look; owners and admins change. Every change is previewed in a dialog
(what changes, which models members gain or lose) before it is applied. The same check
the gateway calls (`kilo.access.is_model_allowed`) decides the "Status" column.
"""

from __future__ import annotations

import streamlit as st

import ui
from kilo.catalog import ANY
from kilo.permissions import allowed
from ui import access_sections
from ui.access_review import DIALOG, confirm_dialog
from ui.url_state import LinkParams

actor = ui.guard("access.view")
can_change = allowed(actor, "access.change")
POLICY_CHOICES = {ANY: "Any", "yes": "Yes", "no": "No"}


summary = access_sections.load_summary(actor)
provider_rows = access_sections.load_providers(actor)
model_rows = access_sections.load_models(actor)
provider_names = {p.slug: p.name for p in provider_rows}

st.title("Model Access")
st.caption(
    "Which AI providers and models members may use. The gateway enforces these "
    "decisions with the same check that fills the Status columns below."
)

access_sections.summary_section(summary, model_rows, can_change=can_change)

# New-model setting.
access_sections.new_model_setting(actor, summary, can_change=can_change)

# Shared filters: data policy and location (a model matches through any of its providers).
# They are mirrored in the URL (?training=no&hq=US&q=claude) so a filtered view can be shared.
QP_SINGLE = {
    "training": "model_access_f_training",
    "retains": "model_access_f_retains",
    "publish": "model_access_f_publish",
}
QP_MULTI = {"hq": "model_access_f_hq", "dc": "model_access_f_dc"}
QP_TEXT = {"q": "model_access_m_search", "qp": "model_access_p_search"}
if not st.session_state.get("model_access_qp_loaded"):
    link = LinkParams()
    for name, key in QP_SINGLE.items():
        st.session_state[key] = link.choice(name, POLICY_CHOICES, default=ANY)
    known = {p.headquarters for p in provider_rows if p.headquarters} | {
        d for p in provider_rows for d in p.datacenters
    }
    for name, key in QP_MULTI.items():
        codes = link.items(name, max_chars=10, allowed=known | {c.lower() for c in known})
        st.session_state[key] = list(dict.fromkeys(c.upper() for c in codes))
    for name, key in QP_TEXT.items():
        st.session_state[key] = link.text(name, max_chars=100)
    st.session_state["model_access_f_enabled"] = link.choice("enabled", ["1"], default="") == "1"
    st.session_state["model_access_qp_loaded"] = True
    link.show()
with st.expander("Data policy and location filters", expanded=True, icon=":material/filter_alt:"):
    c1, c2, c3 = st.columns(3)
    f_training = c1.selectbox(
        "Trains on data",
        list(POLICY_CHOICES),
        format_func=POLICY_CHOICES.get,
        key="model_access_f_training",
    )
    f_retains = c2.selectbox(
        "Retains prompts",
        list(POLICY_CHOICES),
        format_func=POLICY_CHOICES.get,
        key="model_access_f_retains",
    )
    f_publish = c3.selectbox(
        "Can publish prompts",
        list(POLICY_CHOICES),
        format_func=POLICY_CHOICES.get,
        key="model_access_f_publish",
    )
    c4, c5, c6 = st.columns([2, 2, 1])
    hq_options = sorted({p.headquarters for p in provider_rows if p.headquarters})
    dc_options = sorted({d for p in provider_rows for d in p.datacenters})
    f_hq = c4.multiselect("Headquarters in", hq_options, key="model_access_f_hq")
    f_dc = c5.multiselect("Datacenters in", dc_options, key="model_access_f_dc")
    f_enabled = c6.toggle(
        "Enabled only", key="model_access_f_enabled", help="Only what members can use now."
    )
    st.caption("“Unknown” matches only “Any”. Locations are ISO country codes.")

base_filter = dict(
    training=f_training,
    retains_prompts=f_retains,
    can_publish=f_publish,
    headquarters=tuple(f_hq),
    datacenters=tuple(f_dc),
    enabled_only=f_enabled,
)

tab_providers, tab_models, tab_rules = st.tabs(["Providers", "Models", "Rules"])

with tab_providers:
    access_sections.providers_tab(provider_rows, provider_names, base_filter, can_change=can_change)

with tab_models:
    access_sections.models_tab(
        model_rows, provider_rows, provider_names, base_filter, can_change=can_change
    )

with tab_rules:
    access_sections.rules_tab(actor, can_change=can_change)


# Mirror the filters in the URL (only what differs from the defaults).
wanted = {
    name: st.session_state[key]
    for name, key in QP_SINGLE.items()
    if st.session_state.get(key, ANY) != ANY
}
wanted |= {
    name: st.session_state[key] for name, key in QP_MULTI.items() if st.session_state.get(key)
}
wanted |= {
    name: st.session_state[key] for name, key in QP_TEXT.items() if st.session_state.get(key)
}
if st.session_state.get("model_access_f_enabled"):
    wanted["enabled"] = "1"
current = {
    k: (st.query_params.get_all(k) if k in QP_MULTI else st.query_params[k])
    for k in st.query_params
}
if current != wanted:
    st.query_params.from_dict(wanted)

dialog, payload = ui.opened_dialog()
if can_change and dialog == DIALOG:
    confirm_dialog(actor, *payload)
