"""Model Access tab: its loaders, the summary (metrics, training warnings), the new-model
setting and the Providers, Models and Rules tabs. Changes open `ui.access_review`."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

import ui
from kilo import access, catalog
from kilo.access import MODEL, PROVIDER, AccessChange
from kilo.catalog import CatalogFilter, ModelRow, ProviderRow
from kilo.errors import KiloError
from kilo.permissions import Actor
from ui.access_review import ask, short, shown_label
from ui.access_tables import models_frame, providers_frame, show_models

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


def summary_section(
    summary: access.AccessSummary, model_rows: list[ModelRow], *, can_change: bool
) -> None:
    """The metrics, the default model's and the code-training notices."""
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


def new_model_setting(actor: Actor, summary: access.AccessSummary, *, can_change: bool) -> None:
    """Allow or block models a catalogue import adds; where the catalogue comes from."""
    NEW_CHOICES = {
        True: "Allow them automatically",
        False: "Block them until an admin enables them",
    }
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


def providers_tab(
    provider_rows: list[ProviderRow],
    provider_names: dict[str, str],
    base_filter: dict,
    *,
    can_change: bool,
) -> None:
    """The provider table (search, sort) and, for owners and admins, enable / disable."""
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


def models_tab(
    model_rows: list[ModelRow],
    provider_rows: list[ProviderRow],
    provider_names: dict[str, str],
    base_filter: dict,
    *,
    can_change: bool,
) -> None:
    """The model table (search, modalities, context, price) and enable / disable."""
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


def rules_tab(actor: Actor, *, can_change: bool) -> None:
    """The rules behind the Status columns and, for owners and admins, a new rule."""
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
