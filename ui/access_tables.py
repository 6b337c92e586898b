"""The Model Access tab's catalogue tables: providers and models as the tab shows them.

Plain data in (the rows `kilo.access` evaluates), a DataFrame or a drawn table out: the id
pinned, prices in one format (`kilo.catalog.price_label`), sorted modalities, the reason
column only when a shown row has one, an inferred serving provider marked as such.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from kilo import catalog
from kilo.catalog import ModelRow, ProviderRow


def yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def retention(p: ProviderRow) -> str:
    if p.retains_prompts is None:
        return "unknown"
    if not p.retains_prompts:
        return "no"
    return f"yes, {p.retention_days} days" if p.retention_days else "yes (period unknown)"


def status(row: ProviderRow | ModelRow) -> str:
    if row.allowed:
        return "Usable"
    if not row.enabled:
        return "Disabled"
    if isinstance(row, ModelRow) and not row.providers:
        return "No known provider"
    return "Blocked"


def providers_frame(rows: list[ProviderRow]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Provider": p.name,
                "Slug": p.slug,
                "Status": status(p),
                "Why not usable": p.reason,
                "Trains on data": yes_no(p.training),
                "Retains prompts": retention(p),
                "Can publish": yes_no(p.can_publish),
                "Headquarters": p.headquarters or "unknown",
                "Datacenters": ", ".join(p.datacenters) or "unknown",
                "Models": p.models,
                "Privacy policy": p.privacy_policy_url,
            }
            for p in rows
        ],
        columns=[
            "Provider",
            "Slug",
            "Status",
            "Why not usable",
            "Trains on data",
            "Retains prompts",
            "Can publish",
            "Headquarters",
            "Datacenters",
            "Models",
            "Privacy policy",
        ],
    )


def serving(m: ModelRow, names: dict[str, str]) -> str:
    """The serving providers' names; an inferred one (the model's author) says so."""
    shown = ", ".join(names.get(s, s) for s in m.providers) or "unknown"
    return f"{shown} (inferred)" if m.providers_inferred else shown


MODEL_COLUMNS = [  # id, prices and context first; the reason column only when needed
    "Model",
    "Status",
    "Prompt $/M tokens",
    "Completion $/M tokens",
    "Context",
    "Input",
    "Output",
    "Providers",
    "Name",
    "Why not usable",
    "Added",
]


def models_frame(rows: list[ModelRow], names: dict[str, str]) -> pd.DataFrame:
    # Prices stay numbers here for sorting; `show_models` formats them for reading.
    return pd.DataFrame(
        [
            {
                "Model": m.id,
                "Status": status(m),
                "Prompt $/M tokens": m.prompt_price_mtok,
                "Completion $/M tokens": m.completion_price_mtok,
                "Context": m.context_length,
                "Input": ", ".join(sorted(m.input_modalities)),
                "Output": ", ".join(sorted(m.output_modalities)),
                "Providers": serving(m, names),
                "Name": m.name,
                "Why not usable": m.reason,
                "Added": ui.local_time(m.created),
            }
            for m in rows
        ],
        columns=MODEL_COLUMNS,
    )


def show_models(df: pd.DataFrame) -> None:
    """The models table: the id pinned, prices in one format, the reason column only when
    a shown model has a reason."""
    shown = df.assign(
        **{
            c: df[c].map(catalog.price_label)
            for c in ("Prompt $/M tokens", "Completion $/M tokens")
        }
    )
    if not (shown["Why not usable"] != "").any():
        shown = shown.drop(columns="Why not usable")
    st.dataframe(
        shown,
        hide_index=True,
        key="model_access_m_table",
        column_config={
            "Model": st.column_config.TextColumn(pinned=True, width=250),
            "Status": st.column_config.TextColumn(width=140),
            "Prompt $/M tokens": st.column_config.TextColumn(
                "Prompt $/M", width=90, help="USD per million prompt tokens"
            ),
            "Completion $/M tokens": st.column_config.TextColumn(
                "Completion $/M", width=110, help="USD per million completion tokens"
            ),
            "Context": st.column_config.NumberColumn(format="localized", help="tokens", width=100),
            "Input": st.column_config.TextColumn(width=110),
            "Output": st.column_config.TextColumn(width=80),
            "Why not usable": st.column_config.TextColumn(width="large"),
            "Added": st.column_config.DateColumn(help="When OpenRouter listed the model"),
        },
    )
