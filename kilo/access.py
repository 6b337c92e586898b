"""Organization model access: which providers and models members may use.

`is_model_allowed` is the one check both the gateway and the UI call.
Rules: a deny rule on a model (or `author/*`) disables it; a deny rule on a provider
disables that provider; under the code-training opt-out, providers whose policy allows
training are excluded. No rule means allowed (including future models, unless the
organization blocks new models until approved, which import turns into deny rules).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from kilo.models import AccessRule, CatalogModel, Organization, Provider


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def _rules(session: Session, org_id: int) -> dict[tuple[str, str], bool]:
    rows = session.exec(select(AccessRule).where(AccessRule.org_id == org_id)).all()
    return {(r.subject_type, r.subject): r.allowed for r in rows}


def _model_rule(rules: dict[tuple[str, str], bool], model_id: str) -> bool | None:
    if ("model", model_id) in rules:
        return rules[("model", model_id)]
    author = model_id.split("/", 1)[0]
    return rules.get(("model", f"{author}/*"))


def _provider_verdict(
    rules: dict[tuple[str, str], bool], provider: Provider | None, slug: str, opt_out: bool
) -> Verdict:
    if provider is None:
        return Verdict(False, f"provider {slug} is not in the catalogue")
    if rules.get(("provider", slug)) is False:
        return Verdict(False, f"provider {provider.name} is disabled")
    if opt_out and provider.training:
        return Verdict(
            False, f"provider {provider.name} may train on data and code-training opt-out is on"
        )
    return Verdict(True)


def is_model_allowed(
    session: Session, org_id: int, model_id: str, provider: str | None = None
) -> Verdict:
    """Allowed, or the reason it is not (model disabled, provider disabled, ...)."""
    org = session.get(Organization, org_id)
    model = session.get(CatalogModel, model_id)
    if org is None or model is None:
        return Verdict(False, f"model {model_id} is not in the catalogue")
    rules = _rules(session, org_id)
    if _model_rule(rules, model_id) is False:
        return Verdict(False, f"model {model_id} is disabled")
    slugs = [provider] if provider else list(model.providers)
    if provider and provider not in model.providers:
        return Verdict(False, f"provider {provider} does not serve {model_id}")
    if not slugs:
        return Verdict(False, f"no provider serves {model_id}")
    reasons = []
    for slug in slugs:
        verdict = _provider_verdict(
            rules, session.get(Provider, slug), slug, org.code_training_opt_out
        )
        if verdict:
            return verdict
        reasons.append(verdict.reason)
    return Verdict(False, "; ".join(reasons))
