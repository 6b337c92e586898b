"""Organization model access: which providers and models members may use, and the check.

- `evaluate`: how rules decide (`rule_state`, `evaluate`), `is_model_allowed` (the one check
  the gateway and the UI both call), and the Model Access tab's rows and summary.
- `rules`: the organization's rules, and changing them (preview, apply, one audit entry).

The names below are the package's public interface; the gateway calls
`kilo.access.is_model_allowed(session, org_id, model_id, provider)`.
"""

from kilo.access.evaluate import (
    MODEL,
    PROVIDER,
    AccessSummary,
    Rules,
    RuleSet,
    Verdict,
    allowed_model_ids,
    evaluate,
    get_summary,
    is_model_allowed,
    list_model_rows,
    list_provider_rows,
    rule_state,
    serving_providers,
)
from kilo.access.rules import (
    AccessChange,
    ChangePreview,
    RuleInfo,
    change_access,
    list_rules,
    preview_access_change,
    seed_demo,
    set_exact,
    set_new_model_policy,
)

__all__ = [
    "MODEL",
    "PROVIDER",
    "AccessChange",
    "AccessSummary",
    "ChangePreview",
    "RuleInfo",
    "RuleSet",
    "Rules",
    "Verdict",
    "allowed_model_ids",
    "change_access",
    "evaluate",
    "get_summary",
    "is_model_allowed",
    "list_model_rows",
    "list_provider_rows",
    "list_rules",
    "preview_access_change",
    "rule_state",
    "seed_demo",
    "serving_providers",
    "set_exact",
    "set_new_model_policy",
]
