"""Form inputs drawn from `sentiment_core.train_config` option specs (label, help, widget, default), so
the Train and Compare pages show the options the command line has, with the same help. Not a page."""

import streamlit as st

from sentiment_core.core.settings import get_settings


def set_defaults(specs, prefix: str, overwrite: bool = False) -> None:
    """Put each option's default into the session (once, or again when the family changed)."""
    for spec in specs:
        if overwrite or f"{prefix}{spec.name}" not in st.session_state:
            st.session_state[f"{prefix}{spec.name}"] = spec.default


def option_input(spec, prefix: str, container=st):
    """One input for an option: a select box, a text field, a check box or a number field; -> its value."""
    key = f"{prefix}{spec.name}"
    if spec.widget == "checkbox":
        return container.checkbox(spec.label, key=key, help=spec.help)
    if spec.widget == "select":
        return container.selectbox(spec.label, spec.choices, key=key, help=spec.help)
    if spec.widget == "text":
        return container.text_input(spec.label, key=key, help=spec.help)
    step = int(spec.step or 1) if spec.whole else float(spec.step or 0.1)
    return container.number_input(spec.label, key=key, step=step, help=spec.help, placeholder="default",
                                  format=None if spec.whole else "%g")


def option_inputs(specs, prefix: str, columns: int = 2) -> dict:
    """Numbers side by side in `columns` columns, select boxes, text fields and check boxes full width;
    -> {name: value}."""
    values, slots = {}, st.columns(columns)
    numbers = 0
    for spec in specs:
        if spec.widget == "number":
            values[spec.name] = option_input(spec, prefix, slots[numbers % columns])
            numbers += 1
        else:
            values[spec.name] = option_input(spec, prefix)
    return values


def upload_within_limit(upload, command: str) -> bool:
    """True when an uploaded file is within SENTIMENT_MAX_UPLOAD_BYTES; else an error naming the limit and the
    command (`command`) that takes a file of any size."""
    limit = get_settings().max_upload_bytes
    if upload.size <= limit:
        return True
    st.error(f"{upload.name} is {upload.size / 1e6:,.1f} MB; the limit is {limit / 1e6:,.1f} MB "
             f"(SENTIMENT_MAX_UPLOAD_BYTES): split the file, or use `{command}`.", icon="🚫")
    return False
