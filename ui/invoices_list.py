"""The Invoices tab's tables: invoices (PDF download and, for owners, the refund button),
payments, purchase history and the credit ledger, each read through a cached loader.
"Billed to" is the customer an invoice prints: recorded when it was issued."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from kilo import billing
from kilo.permissions import Actor


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_invoices(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "id": i.id,
            "Number": i.number,
            "Date": ui.local_time(i.issued_at),
            "Period": f"{i.period_start:%Y-%m-%d} – {i.period_end:%Y-%m-%d}",
            "Kind": billing.INVOICE_KIND_LABELS.get(i.kind, i.kind),
            "Billed to": i.billed_to,
            "Amount": ui.fmt_cents(i.total_cents),
            "Status": i.status,
            "Refunded": ui.fmt_cents(i.refunded_cents) if i.refunded_cents else "",
            "Note": i.note,
            "refundable_cents": i.refundable_cents,
            "seller_recorded": i.seller_recorded,
            "parties_note": i.parties_note,
        }
        for i in ui.read(billing.list_invoices, actor=actor)
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "id",
            "Number",
            "Date",
            "Period",
            "Kind",
            "Billed to",
            "Amount",
            "Status",
            "Refunded",
            "Note",
            "refundable_cents",
            "seller_recorded",
            "parties_note",
        ],
    )


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_payments(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "Date": ui.local_time(p.at),
            "Amount": ui.fmt_cents(p.amount_cents),
            "Currency": p.currency,
            "Status": p.status,
            "Method": p.method,
            "Invoice": p.invoice_number or "",
            "Description": p.description,
            "Reference": p.reference,
            "Failure": p.failure_message,
        }
        for p in ui.read(billing.list_payments, actor=actor)
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "Date",
            "Amount",
            "Currency",
            "Status",
            "Method",
            "Invoice",
            "Description",
            "Reference",
            "Failure",
        ],
    )


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_history(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "Date": ui.local_time(h.at),
            "Type": h.kind,
            "Description": h.description,
            "Amount": ui.fmt_micros(h.amount_micros),
            "By": h.actor_name,
            "Reference": h.reference,
        }
        for h in ui.read(billing.list_purchase_history, actor=actor)
    ]
    return pd.DataFrame(rows, columns=["Date", "Type", "Description", "Amount", "By", "Reference"])


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_ledger(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "Date": ui.local_time(r.at),
            "Kind": billing.LEDGER_KIND_LABELS.get(r.kind, r.kind)
            + (" (derived)" if r.kind == "usage" else ""),
            "Description": r.description,
            "Amount": ui.fmt_micros(r.amount_micros),
            "Balance after": ui.fmt_micros(r.balance_micros),
            "Reference": r.reference,
        }
        for r in ui.read(billing.list_ledger, actor=actor)
    ]
    return pd.DataFrame(
        rows, columns=["Date", "Kind", "Description", "Amount", "Balance after", "Reference"]
    )


def invoices_tab(actor: Actor, setup: billing.InvoiceSetup, *, can_change: bool) -> None:
    """The invoices; the picked one's PDF (with its seller recorded at issue, or once a
    seller is set) and refund button."""
    invoices = load_invoices(actor)
    if invoices.empty:
        st.info("No invoices yet.")
    else:
        st.dataframe(
            invoices.drop(columns=["id", "refundable_cents", "seller_recorded", "parties_note"]),
            hide_index=True,
            width="stretch",
            column_config={
                "Date": st.column_config.DatetimeColumn(
                    format="YYYY-MM-DD", help="Issue date (the PDF's too)"
                ),
                "Billed to": st.column_config.TextColumn(
                    help="The customer as the invoice prints it: recorded when it was issued"
                ),
                "Note": st.column_config.TextColumn(
                    width="large",
                    help="Seat changes: the change a prorated invoice bills, or the seat "
                    "counts from each change date in a seat invoice's period",
                ),
            },
        )
        by_id = {int(r["id"]): r for r in invoices.to_dict("records")}
        if st.session_state.pop("inv_pick_newest", False):
            # Set before the widget exists: the browser still holds the old choice, and
            # dropping the key alone would let that stale value come back on the rerun.
            st.session_state["inv_pdf_pick"] = next(iter(by_id))
        pick_col, dl_col, refund_col = st.columns([3, 1, 1], vertical_alignment="bottom")
        picked = pick_col.selectbox(
            "Invoice",
            list(by_id),
            key="inv_pdf_pick",
            format_func=lambda i: (
                f"{by_id[i]['Number']} · {by_id[i]['Kind']} · "
                f"{by_id[i]['Amount']} · {by_id[i]['Status']}"
            ),
        )
        row = by_id[picked]
        if row["parties_note"]:  # issued before the parties were recorded: printed as now
            st.caption(ui.md_escape(row["parties_note"]))
        if setup.seller is None and not row["seller_recorded"]:
            # No final invoice without a seller: say what to set.
            dl_col.button("Download PDF", key="inv_pdf_unavailable", disabled=True, width="stretch")
            st.error(ui.md_escape(setup.problem), icon=":material/storefront:")
        else:
            dl_col.download_button(
                "Download PDF",
                key="inv_pdf_download",
                icon=":material/download:",
                width="stretch",
                data=lambda: ui.read(billing.invoice_pdf, actor=actor, invoice_id=picked),
                file_name=f"invoice-{row['Number']}.pdf",
                mime="application/pdf",
            )
        if can_change and row["refundable_cents"] > 0:
            refund_col.button(
                "Refund…",
                key="inv_refund_open",
                width="stretch",
                on_click=ui.open_dialog,
                args=(
                    "inv_refund",
                    {k: row[k] for k in ("id", "Number", "Amount", "refundable_cents")},
                ),
            )


def payments_tab(actor: Actor) -> None:
    payments = load_payments(actor)
    if payments.empty:
        st.info("No payments yet.")
    else:
        st.dataframe(
            payments,
            hide_index=True,
            width="stretch",
            column_config={"Date": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
        )


def history_tab(actor: Actor) -> None:
    st.caption(
        "Credit purchases, seat changes (with the prorated amount), refunds, "
        "promotional credits and adjustments."
    )
    history = load_history(actor)
    st.dataframe(
        history,
        hide_index=True,
        width="stretch",
        column_config={"Date": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )


def ledger_tab(actor: Actor) -> None:
    st.caption(
        "Every credit movement with the balance after it. Usage is derived from the "
        "recorded requests and shown per month."
    )
    st.dataframe(
        load_ledger(actor),
        hide_index=True,
        width="stretch",
        column_config={"Date": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )
