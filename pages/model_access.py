"""Model Access tab: the provider and model catalogue, filters, and the organization's rules.

Everyone may look; owners and admins change. Every change is previewed in a dialog
(what changes, which models members gain or lose) before it is applied. The same check
the gateway calls (`kilo.access.is_model_allowed`) decides the "Status" column.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

import ui
from kilo import access, catalog
from kilo.access import MODEL, PROVIDER, AccessChange
from kilo.catalog import ANY, CatalogFilter, ModelRow, ProviderRow
from kilo.errors import KiloError
from kilo.permissions import Actor, allowed
from ui.access_tables import models_frame, providers_frame, show_models
from ui.url_state import LinkParams

actor = ui.guard("access.view")
can_change = allowed(actor, "access.change")
DIALOG = "model_access_change"
CONTEXT_STEPS = [
    0,
    4_096,
    8_192,
    16_384,
    32_768,
    65_536,
    131_072,
    200_000,
    262_144,
    400_000,
    1_000_000,
    2_000_000,
]
POLICY_CHOICES = {ANY: "Any", "yes": "Yes", "no": "No"}


# ---- loaders (plain data, cached) ---------------------------------------------------


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_summary(actor: Actor) -> access.AccessSummary:
    return ui.read(access.get_summary, actor=actor)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_providers(actor: Actor) -> list[ProviderRow]:
    return ui.read(access.list_provider_rows, actor=actor)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_models(actor: Actor) -> list[ModelRow]:
    return ui.read(access.list_model_rows, actor=actor)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_rules(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "Applies to": r.kind,
            "Rule": r.subject,
            "Effect": "enable" if r.enabled else "disable",
            "Kind": "pattern" if r.is_pattern else "exact",
            "Since": ui.local_time(r.created_at),
        }
        for r in ui.read(access.list_rules, actor=actor)
    ]
    return pd.DataFrame(rows, columns=["Applies to", "Rule", "Effect", "Kind", "Since"])


def sorted_frame(df: pd.DataFrame, prefix: str, default: str) -> pd.DataFrame:
    c1, c2 = st.columns([3, 1])
    by = c1.selectbox(
        "Sort by", list(df.columns), index=list(df.columns).index(default), key=f"{prefix}_sort"
    )
    desc = c2.toggle("Descending", key=f"{prefix}_desc")
    return df.sort_values(by, ascending=not desc, na_position="last", kind="stable")


def shown_label(items: list[str], noun: str = "") -> str:
    """ "all 3 providers shown", "the 1 model shown"; without a noun "all 3 shown"."""
    n = len(items)
    what = f"{n} " + (ui.plural(n, noun).split(" ", 1)[1] + " " if noun else "")
    return f"{'the' if n == 1 else 'all'} {what}shown"


def short(items: list[str], limit: int = 12) -> str:
    """Ids as Markdown code spans (safe whatever backticks an id holds)."""
    shown = ", ".join(ui.md_code(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# ---- confirm dialog -------------------------------------------------------------------


def ask(title: str, change: AccessChange) -> None:
    """Open the review dialog for `change` (kept open across reruns until closed)."""
    ui.open_dialog(DIALOG, (title, change))


@st.dialog("Review the change", width="large", on_dismiss=ui.close_dialog)
def confirm_dialog(actor: Actor, title: str, change: AccessChange) -> None:
    """`title` is Markdown built by this page (user text in it already escaped)."""
    st.markdown(f"**{title}**")
    try:
        preview = ui.read(access.preview_access_change, actor=actor, change=change)
    except KiloError as exc:
        st.error(ui.md_escape(exc), icon=":material/error:")
        if st.button("Close", key="model_access_confirm_close"):
            ui.close_dialog()
            st.rerun()
        return
    for label, items in (
        ("Enable models", preview.enabled_models),
        ("Disable models", preview.disabled_models),
        ("Enable providers", preview.enabled_providers),
        ("Disable providers", preview.disabled_providers),
        ("Rules", preview.pattern_changes),
    ):
        if items:
            st.markdown(f"- **{label} ({len(items)}):** {short(items)}")
    if preview.unchanged:
        st.caption(
            f"{preview.unchanged} of the chosen are already in that state and stay as they are."
        )
    if preview.changes_anything:
        st.markdown(
            f"Members **gain** access to {ui.plural(len(preview.newly_usable), 'model')} and "
            f"**lose** access to {ui.plural(len(preview.newly_blocked), 'model')}."
        )
        if preview.newly_blocked:
            st.caption(f"Losing access: {short(preview.newly_blocked, 8)}")
    if preview.problem:
        st.error(ui.md_escape(preview.problem), icon=":material/block:")
    elif not preview.changes_anything:
        st.info("Nothing would change.", icon=":material/info:")
    c1, c2 = st.columns(2)
    apply = c1.button(
        "Apply",
        type="primary",
        key="model_access_confirm_apply",
        disabled=bool(preview.problem) or not preview.changes_anything,
    )
    if c2.button("Cancel", key="model_access_confirm_cancel"):
        ui.close_dialog()
        st.rerun()
    if apply:
        done = ui.run_action(
            lambda s: access.change_access(s, actor=actor, change=change),
            success="Model access updated",
        )
        if done is not None:
            ui.close_dialog()
            st.rerun()


# ---- page -----------------------------------------------------------------------------

summary = load_summary(actor)
provider_rows = load_providers(actor)
model_rows = load_models(actor)
provider_names = {p.slug: p.name for p in provider_rows}

st.title("Model Access")
st.caption(
    "Which AI providers and models members may use. The gateway enforces these "
    "decisions with the same check that fills the Status columns below."
)

m1, m2, m3 = st.columns(3)
no_provider = sum(not m.providers for m in model_rows)
m1.metric(
    "Usable models",
    f"{summary.models_allowed} of {summary.models_total}",
    help=f"{ui.plural(no_provider, 'model')} with no known serving provider count as not "
    "usable: members reach them only through a provider the gateway names for the request."
    if no_provider
    else None,
)
m2.metric("Usable providers", f"{summary.providers_allowed} of {summary.providers_total}")
m3.metric(
    "Default model",
    ui.md_escape((summary.default_model or "none").split("/")[-1]),
    help=f"{ui.md_escape(summary.default_model or 'No default model')}; change it on the "
    "Organization tab.",
)
if summary.default_verdict is not None and not summary.default_verdict.allowed:
    st.warning(
        f"The default model is not usable: {ui.md_escape(summary.default_verdict.reason)}. Choose "
        "another one on the Organization tab.",
        icon=":material/warning:",
    )

training = ", ".join(summary.training_providers)
if summary.code_training_opt_out:
    st.info(
        "**Code-training opt-out is on** (Organization tab): providers whose data policy "
        f"allows training are excluded ({ui.md_escape(training) or 'none'}), "
        "even where enabled here; models are routed to the other providers that serve them. "
        f"The training policy of {ui.plural(len(summary.unknown_policy_providers), 'provider')} "
        "is unknown "
        "and they are not excluded automatically; filter on “Trains on data” and disable them "
        "if you need certainty.",
        icon=":material/shield:",
    )
else:
    st.warning(
        "**Code-training opt-out is off** (Organization tab): providers whose data policy "
        f"allows training ({ui.md_escape(training) or 'none'}) may receive "
        "your code.",
        icon=":material/policy:",
    )
if not can_change:
    st.caption(":material/lock: You can view model access; only owners and admins change it.")

# New-model setting.
NEW_CHOICES = {True: "Allow them automatically", False: "Block them until an admin enables them"}
with st.container(border=True):
    choice = st.radio(
        "When a catalogue import adds new models",
        list(NEW_CHOICES),
        index=list(NEW_CHOICES).index(summary.auto_allow_new_models),
        format_func=NEW_CHOICES.get,
        horizontal=True,
        key="model_access_new_models",
        disabled=not can_change,
    )
    if (
        can_change
        and choice != summary.auto_allow_new_models
        and st.button("Save setting", key="model_access_new_models_save")
    ):
        saved = ui.run_action(
            lambda s: access.set_new_model_policy(s, actor=actor, auto_allow=choice),
            success="New-model setting saved",
        )
        if saved is not None:
            st.rerun()
    imported = ui.fmt_datetime(summary.catalogue_imported_at)
    st.caption(
        f"Catalogue: OpenRouter snapshot, imported {imported}. Data policies are "
        "providers' published defaults; “unknown” means nobody published it. Serving "
        "providers are approximate per model author (OpenRouter's public model list "
        "does not name them); see data/catalog/SOURCES.md. The catalogue is shared by every "
        "organization on this server and maintained by the server operator: "
        "`python -m kilo catalog import MODELS_JSON [--providers ...] [--policies ...]`."
    )

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
    search = st.text_input(
        "Search providers", key="model_access_p_search", placeholder="name or slug"
    )
    shown = catalog.filter_providers(provider_rows, CatalogFilter(search=search, **base_filter))
    df = sorted_frame(providers_frame(shown), "model_access_p", "Provider")
    if not (df["Why not usable"] != "").any():
        df = df.drop(columns="Why not usable")
    st.dataframe(
        df,
        hide_index=True,
        key="model_access_p_table",
        column_config={
            "Models": st.column_config.NumberColumn(help="Catalogue models it serves"),
            "Why not usable": st.column_config.TextColumn(width="large"),
            "Privacy policy": st.column_config.LinkColumn(display_text="policy"),
        },
    )
    st.caption(f"{len(shown)} of {ui.plural(len(provider_rows), 'provider')} shown.")
    if can_change and shown:
        slugs = [p.slug for p in shown]
        picked = st.multiselect(
            "Choose providers", slugs, format_func=provider_names.get, key="model_access_p_pick"
        )
        b1, b2, b3, b4 = st.columns(4)
        chosen, all_shown = (
            ui.plural(len(picked), "chosen provider"),
            shown_label(slugs, "provider"),
        )
        if b1.button("Enable chosen", key="model_access_p_enable", disabled=not picked):
            ask(f"Enable {chosen}", AccessChange(enable_providers=tuple(picked)))
        if b2.button("Disable chosen", key="model_access_p_disable", disabled=not picked):
            ask(f"Disable {chosen}", AccessChange(disable_providers=tuple(picked)))
        if b3.button(f"Enable {shown_label(slugs)}", key="model_access_p_enable_all"):
            ask(f"Enable {all_shown}", AccessChange(enable_providers=tuple(slugs)))
        if b4.button(f"Disable {shown_label(slugs)}", key="model_access_p_disable_all"):
            ask(f"Disable {all_shown}", AccessChange(disable_providers=tuple(slugs)))

with tab_models:
    c1, c2, c3 = st.columns([2, 1, 1])
    search = c1.text_input(
        "Search models", key="model_access_m_search", placeholder="id or name, e.g. claude"
    )
    in_opts = sorted({x for m in model_rows for x in m.input_modalities})
    out_opts = sorted({x for m in model_rows for x in m.output_modalities})
    f_in = c2.multiselect("Input includes", in_opts, key="model_access_m_input")
    f_out = c3.multiselect("Output includes", out_opts, key="model_access_m_output")
    c4, c5, c6, c7 = st.columns([3, 1, 1, 1])
    ctx_lo, ctx_hi = c4.select_slider(
        "Context length (tokens)",
        CONTEXT_STEPS,
        value=(CONTEXT_STEPS[0], CONTEXT_STEPS[-1]),
        format_func=lambda v: f"{v:,}+" if v == CONTEXT_STEPS[-1] else f"{v:,}",
        key="model_access_m_context",
    )
    price_of = c5.selectbox("Price of", ["prompt", "completion"], key="model_access_m_price_of")
    p_min = c6.number_input(
        "Min $/M tokens", min_value=0.0, value=0.0, step=0.1, key="model_access_m_price_min"
    )
    p_max = c7.number_input(
        "Max $/M tokens",
        help="0 means no upper limit.",
        min_value=0.0,
        value=0.0,
        step=0.5,
        key="model_access_m_price_max",
    )
    try:
        mfilter = CatalogFilter(
            search=search,
            input_modalities=tuple(f_in),
            output_modalities=tuple(f_out),
            context_min=ctx_lo or None,
            context_max=None if ctx_hi == CONTEXT_STEPS[-1] else ctx_hi,
            price_min=Decimal(str(p_min)) if p_min else None,
            price_max=Decimal(str(p_max)) if p_max else None,
            price_of=price_of,
            **base_filter,
        )
    except KiloError as exc:  # e.g. a minimum price above the maximum: say why, show none
        st.warning(ui.md_escape(exc), icon=":material/filter_alt_off:")
        mfilter = None
    shown_m = (
        []
        if mfilter is None
        else catalog.filter_models(model_rows, mfilter, {p.slug: p for p in provider_rows})
    )
    if mfilter is not None:
        df = sorted_frame(models_frame(shown_m, provider_names), "model_access_m", "Model")
        show_models(df)
        inferred = sum(m.providers_inferred for m in shown_m)
        unknown = sum(not m.providers for m in shown_m)
        st.caption(
            f"{len(shown_m)} of {ui.plural(len(model_rows), 'model')} shown. Prices are USD per "
            "million tokens; “—” means it varies (routers) or is unknown. "
            + (
                f"{ui.plural(inferred, 'model')} shown {'has' if inferred == 1 else 'have'} "
                "no listed provider: its author, a catalogue provider, is taken as the "
                "provider serving it (“inferred”). "
                if inferred
                else ""
            )
            + (
                f"{ui.plural(unknown, 'model')} shown {'has' if unknown == 1 else 'have'} no "
                "known provider (“No known provider”): members can use "
                f"{'it' if unknown == 1 else 'them'} only through a provider the gateway names "
                "for the request."
                if unknown
                else ""
            )
        )
    if can_change and shown_m:
        ids = [m.id for m in shown_m]
        picked_m = st.multiselect("Choose models", ids, key="model_access_m_pick")
        b1, b2, b3, b4 = st.columns(4)
        chosen, all_shown = ui.plural(len(picked_m), "chosen model"), shown_label(ids, "model")
        if b1.button("Enable chosen", key="model_access_m_enable", disabled=not picked_m):
            ask(f"Enable {chosen}", AccessChange(enable_models=tuple(picked_m)))
        if b2.button("Disable chosen", key="model_access_m_disable", disabled=not picked_m):
            ask(f"Disable {chosen}", AccessChange(disable_models=tuple(picked_m)))
        if b3.button(f"Enable {shown_label(ids)}", key="model_access_m_enable_all"):
            ask(f"Enable {all_shown}", AccessChange(enable_models=tuple(ids)))
        if b4.button(f"Disable {shown_label(ids)}", key="model_access_m_disable_all"):
            ask(f"Disable {all_shown}", AccessChange(disable_models=tuple(ids)))

with tab_rules:
    st.caption(
        "Rules behind the Status columns. No rule means enabled. An exact id beats a "
        "pattern; a longer pattern beats a shorter one; on a tie, disable wins. "
        "Patterns use * and ?, e.g. `anthropic/*` (all Anthropic models) or `*:free`."
    )
    rules_df = load_rules(actor)
    if rules_df.empty:
        st.info("No rules: every provider and model is enabled.", icon=":material/info:")
    else:
        st.dataframe(rules_df, hide_index=True, key="model_access_rules_table")
    if can_change:
        c1, c2, c3, c4 = st.columns([1, 2, 1, 1], vertical_alignment="bottom")
        kind = c1.selectbox("Applies to", [MODEL, PROVIDER], key="model_access_rule_kind")
        pattern = c2.text_input(
            "Id or pattern", key="model_access_rule_pattern", placeholder="anthropic/*"
        )
        effects = {"disable": False, "enable": True, "remove rule": None}
        effect = c3.selectbox("Effect", list(effects), key="model_access_rule_effect")
        if c4.button("Review", key="model_access_rule_review", disabled=not pattern.strip()):
            ask(
                f"Rule: {effect} {kind} {short([pattern.strip()])}",
                AccessChange(patterns=((kind, pattern.strip(), effects[effect]),)),
            )


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
