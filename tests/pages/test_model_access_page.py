"""Model Access tab per role: views, filters, previewed changes, refusals."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlmodel import select

from kilo import access
from kilo.db import read_session
from kilo.models import AuditEntry, Organization
from tests.pages.helpers import app_as, open_page, texts

PAGE = "pages/model_access.py"
CHANGE = "organization.model_access.change"


def org_id() -> int:
    with read_session() as s:
        return s.exec(select(Organization.id)).first()


def allowed(model_id: str, provider: str | None = None) -> access.Verdict:
    with read_session() as s:
        return access.is_model_allowed(s, org_id(), model_id, provider)


def change_entries() -> list[AuditEntry]:
    with read_session() as s:
        return list(
            s.exec(
                select(AuditEntry).where(AuditEntry.action == CHANGE).order_by(AuditEntry.id)
            ).all()
        )


TABLES = ["model_access_p_table", "model_access_m_table", "model_access_rules_table"]


def table(at, key):
    """The DataFrame shown by the table `key` (the tab's tables come in this order)."""
    return at.dataframe[TABLES.index(key)].value


def price(text: str) -> Decimal:
    """A price cell ("$1,234.50") as a number."""
    return Decimal(text.removeprefix("$").replace(",", ""))


def test_member_sees_catalogue_but_cannot_change(demo_url):
    at = open_page("member", PAGE)
    assert not at.exception
    page = texts(at)
    assert "only owners and admins change it" in page
    assert "Code-training opt-out is on" in page and "DeepSeek, Nvidia" in page
    keys = {b.key for b in at.button}
    assert not any(k and k.startswith("model_access_") for k in keys)
    assert at.radio(key="model_access_new_models").disabled
    assert "Refresh the catalogue" not in [e.label for e in at.expander]
    providers = table(at, "model_access_p_table")
    assert len(providers) == 82
    stealth = providers[providers["Slug"] == "stealth"].iloc[0]
    assert stealth["Trains on data"] == "unknown" and stealth["Retains prompts"] == "unknown"
    google = providers[providers["Slug"] == "google-ai-studio"].iloc[0]
    assert google["Retains prompts"] == "yes, 55 days"
    deepseek = providers[providers["Slug"] == "deepseek"].iloc[0]
    assert deepseek["Status"] == "Blocked" and "opt-out" in deepseek["Why not usable"]


def test_owner_filters_providers_and_models(demo_url):
    at = open_page("owner", PAGE)
    at.selectbox(key="model_access_f_training").set_value("yes").run()
    assert set(table(at, "model_access_p_table")["Slug"]) == {"deepseek", "nvidia"}
    at.selectbox(key="model_access_f_training").set_value("any")
    at.multiselect(key="model_access_f_hq").set_value(["CN"]).run()
    assert set(table(at, "model_access_p_table")["Headquarters"]) == {"CN"}
    at.multiselect(key="model_access_f_hq").set_value([])
    at.text_input(key="model_access_m_search").set_value("claude")
    at.multiselect(key="model_access_m_input").set_value(["image"])
    at.number_input(key="model_access_m_price_max").set_value(5.0).run()
    models = table(at, "model_access_m_table")
    assert len(models) > 0 and models["Model"].str.startswith(("anthropic/", "~anthropic/")).all()
    assert (models["Prompt $/M tokens"].map(price) <= 5).all()
    assert models["Input"].str.contains("image").all()
    at.selectbox(key="model_access_m_sort").set_value("Prompt $/M tokens")
    at.toggle(key="model_access_m_desc").set_value(True).run()
    prices = [price(p) for p in table(at, "model_access_m_table")["Prompt $/M tokens"]]
    assert prices == sorted(prices, reverse=True)
    at.toggle(key="model_access_f_enabled").set_value(True).run()
    assert set(table(at, "model_access_p_table")["Status"]) == {"Usable"}


def test_admin_disables_a_model_after_reviewing_the_change(demo_url):
    assert allowed("openai/gpt-5.4")
    before = len(change_entries())
    at = open_page("admin", PAGE)
    at.multiselect(key="model_access_m_pick").set_value(["openai/gpt-5.4"]).run()
    at.button(key="model_access_m_disable").click().run()
    assert not at.exception
    assert "Disable models (1)" in texts(at) and "lose** access to 1 model." in texts(at)
    assert allowed("openai/gpt-5.4")  # nothing applied yet
    at.button(key="model_access_confirm_apply").click().run()
    assert not at.exception
    verdict = allowed("openai/gpt-5.4")
    assert not verdict and verdict.reason == "model openai/gpt-5.4 is disabled"
    entries = change_entries()
    assert len(entries) == before + 1 and entries[-1].message == "Disabled models: openai/gpt-5.4"
    models = table(at, "model_access_m_table")
    assert models[models["Model"] == "openai/gpt-5.4"].iloc[0]["Status"] == "Disabled"


def test_admin_disables_the_whole_filtered_set_at_once(demo_url):
    at = open_page("admin", PAGE)
    at.text_input(key="model_access_m_search").set_value("qwen/").run()
    n = len(table(at, "model_access_m_table"))
    at.button(key="model_access_m_disable_all").click().run()
    assert f"Disable all {n} models shown" in texts(at)
    at.button(key="model_access_confirm_apply").click().run()
    assert not allowed("qwen/qwen3-coder") and not allowed("qwen/qwen3-max")
    assert allowed("openai/gpt-5.4")
    assert change_entries()[-1].message.startswith("Disabled models: qwen/")


def test_disabling_the_default_model_is_refused(demo_url):
    before = len(change_entries())
    at = open_page("owner", PAGE)
    at.text_input(key="model_access_rule_pattern").set_value("anthropic/*").run()
    at.button(key="model_access_rule_review").click().run()
    shown = texts(at).replace("\\", "")  # messages are Markdown-escaped
    assert "would block the default model anthropic/claude-sonnet-4.5" in shown
    assert at.button(key="model_access_confirm_apply").disabled
    at.button(key="model_access_confirm_cancel").click().run()
    assert len(change_entries()) == before and allowed("anthropic/claude-sonnet-4.5")


def test_admin_disables_a_provider_and_changes_the_new_model_setting(demo_url):
    at = open_page("admin", PAGE)
    at.multiselect(key="model_access_p_pick").set_value(["xai"]).run()
    at.button(key="model_access_p_disable").click().run()
    at.button(key="model_access_confirm_apply").click().run()
    assert allowed("x-ai/grok-4.3").reason == "provider xAI is disabled"
    assert change_entries()[-1].message == "Disabled providers: xai"
    at.radio(key="model_access_new_models").set_value(False).run()
    at.button(key="model_access_new_models_save").click().run()
    with read_session() as s:
        assert s.get(Organization, org_id()).auto_allow_new_models is False
    assert change_entries()[-1].message.startswith("New models: allowed automatically")


def test_rules_tab_lists_the_demo_rules(demo_url):
    at = open_page("admin", PAGE)
    rules = table(at, "model_access_rules_table")
    assert "*:free" in set(rules["Rule"]) and "stealth" in set(rules["Rule"])


def test_filters_are_read_from_and_mirrored_in_the_url(demo_url):
    at = app_as("member")
    at.run()
    at.switch_page(PAGE)
    at.query_params["training"] = "yes"
    at.query_params["q"] = "deepseek"
    at.run()
    assert not at.exception
    assert set(table(at, "model_access_p_table")["Slug"]) == {"deepseek", "nvidia"}
    models = table(at, "model_access_m_table")
    assert len(models) > 0 and models["Model"].str.contains("deepseek").all()
    at.selectbox(key="model_access_f_retains").set_value("no").run()
    assert dict(at.query_params) == {"training": "yes", "retains": "no", "q": "deepseek"}


def test_no_role_can_import_the_catalogue_from_the_dashboard(demo_url):
    """The catalogue is the server operator's: no upload, no import button, for any role."""
    for role in ("owner", "admin", "member"):
        at = open_page(role, PAGE)
        assert not at.exception
        assert "Refresh the catalogue" not in [e.label for e in at.expander]
        assert at.get("file_uploader") == []
        assert "model_access_up_import" not in {b.key for b in at.button}
        assert "maintained by the server operator" in texts(at)
        assert "python -m kilo catalog import" in texts(at)


def test_models_table_pins_the_id_and_shows_prices_and_context_first(demo_url):
    at = open_page("owner", PAGE)
    models = table(at, "model_access_m_table")
    assert list(models.columns[:5]) == [
        "Model",
        "Status",
        "Prompt $/M tokens",
        "Completion $/M tokens",
        "Context",
    ]
    config = json.loads(at.dataframe[1].proto.columns)
    assert config["Model"]["pinned"] is True
    # One price format: at least two decimals, more only when the price has them.
    cell = models.set_index("Model")["Prompt $/M tokens"]
    assert cell["anthropic/claude-sonnet-4.5"] == "$3.00"
    assert all(p == "—" or len(p.split(".")[1]) >= 2 for p in cell)
    # Modalities are sorted; the reason column shows only when a shown model has one.
    assert all(v.split(", ") == sorted(v.split(", ")) for v in models["Input"])
    at.text_input(key="model_access_m_search").set_value("claude-sonnet-4.5").run()
    usable = table(at, "model_access_m_table")
    assert set(usable["Status"]) == {"Usable"} and "Why not usable" not in usable.columns
    at.text_input(key="model_access_m_search").set_value("openrouter/auto").run()
    unknown = table(at, "model_access_m_table").iloc[0]
    assert unknown["Status"] == "No known provider" and unknown["Why not usable"]
    assert "only through a provider the gateway names" in texts(at)


def test_a_provider_inferred_from_the_author_says_so(demo_url):
    at = open_page("owner", PAGE)
    at.text_input(key="model_access_m_search").set_value("poolside/laguna-xs.2").run()
    row = table(at, "model_access_m_table").iloc[0]
    assert row["Providers"] == "Poolside (inferred)"
    assert "its author, a catalogue provider, is taken as the provider serving it" in texts(at)


def test_a_minimum_price_above_the_maximum_says_why_nothing_matches(demo_url):
    at = open_page("owner", PAGE)
    at.number_input(key="model_access_m_price_min").set_value(5.0)
    at.number_input(key="model_access_m_price_max").set_value(1.0).run()
    assert not at.exception
    warning = " ".join(w.value for w in at.warning).replace("\\", "")  # Markdown escapes
    assert "minimum price ($5.00) is above the maximum ($1.00)" in warning


def test_counts_of_one_are_singular(demo_url):
    at = open_page("admin", PAGE)
    at.multiselect(key="model_access_p_pick").set_value(["anthropic"]).run()
    at.button(key="model_access_p_disable").click().run()
    page = texts(at)
    assert "Disable 1 chosen provider" in page and "1 chosen providers" not in page
    assert " 1 models" not in page
