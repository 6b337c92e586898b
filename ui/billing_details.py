"""The Invoices tab's billing details: the customer's details and country (owners edit them in a
dialog), the seller printed on invoices, and the tax the next invoice gets."""

from __future__ import annotations

import streamlit as st

import ui
from kilo import billing
from kilo.billing.countries import COUNTRIES, country_name
from kilo.permissions import Actor

NO_COUNTRY = ""


def _country_label(code: str) -> str:
    return "Not given" if code == NO_COUNTRY else f"{code} — {country_name(code)}"


@st.dialog("Billing details", on_dismiss=ui.close_dialog)
def details_dialog(actor: Actor, summary: billing.BillingSummary) -> None:
    company = st.text_input(
        "Company name", value=summary.billing_company, key="inv_details_company"
    )
    address = st.text_area("Address", value=summary.billing_address, key="inv_details_address")
    options = [NO_COUNTRY, *sorted(COUNTRIES)]
    country = st.selectbox(
        "Country",
        options,
        index=options.index(summary.billing_country) if summary.billing_country in options else 0,
        format_func=_country_label,
        key="inv_details_country",
        help="Decides the tax: an EU business with its VAT number, in another EU country than "
        "the seller, is invoiced under the VAT reverse charge.",
    )
    tax_id = st.text_input(
        "Tax ID (in the EU: the VAT number, e.g. DE123456789)",
        value=summary.billing_tax_id,
        key="inv_details_tax_id",
    )
    email = st.text_input("Invoice email", value=summary.billing_email, key="inv_details_email")
    st.caption(
        "Printed on every invoice PDF, including past ones; the tax treatment of an invoice "
        "is fixed when it is issued."
    )
    if st.button("Save", type="primary", key="inv_details_save"):
        ok = ui.run_action(
            lambda s: billing.update_billing_details(
                s,
                actor=actor,
                company=company,
                address=address,
                tax_id=tax_id,
                email=email,
                country=country,
            ),
            success="Billing details saved",
        )
        if ok is not None:
            ui.close_dialog()
            st.rerun()


def details_tab(
    summary: billing.BillingSummary, setup: billing.InvoiceSetup, *, can_change: bool
) -> None:
    """Bill-to details, the seller, and the tax of the next invoice."""
    st.markdown("**Printed on the invoices issued from now on**")
    st.caption(
        "Each invoice keeps the customer and seller details it was issued with: changing "
        "them here, or the seller settings, does not change invoices already issued."
    )
    lines = [
        summary.billing_company or summary.org_name,
        *summary.billing_address.splitlines(),
        country_name(summary.billing_country) if summary.billing_country else "",
        f"Tax ID: {summary.billing_tax_id}" if summary.billing_tax_id else "",
        summary.billing_email,
    ]
    st.text("\n".join(line for line in dict.fromkeys(lines) if line))
    if can_change:
        st.button(
            "Edit billing details",
            key="inv_details_open",
            icon=":material/edit:",
            on_click=ui.open_dialog,
            args=("inv_details",),
        )
    else:
        st.caption("Only owners can change billing details.")
    st.markdown("**Seller (issuer of the invoices)**")
    if setup.seller is not None:
        st.text("\n".join(setup.seller.lines()))
        if setup.seller.is_demo:
            st.caption("The demo organization's sample seller: its invoices are labelled demo.")
    else:
        st.warning(ui.md_escape(setup.problem), icon=":material/storefront:")
    st.markdown("**Tax on the next invoice**")
    st.caption(ui.md_escape(setup.tax))
