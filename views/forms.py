"""Form inputs drawn from `sentiment_core.train_config` option specs (label, help, widget, default), so
the Train and Compare pages show the options the command line has, with the same help. Not a page."""

import streamlit as st


def set_defaults(specs, prefix: str, overwrite: bool = False) -> None:
    """Put each option's default into the session (once, or again when the family changed)."""
    for spec in specs:
        if overwrite or f"{prefix}{spec.name}" not in st.session_state:
            st.session_state[f"{prefix}{spec.name}"] = spec.default


def option_input(spec, prefix: str, container=st):
    """One input for an option: a select box, a text field or a number field; -> its value."""
    key = f"{prefix}{spec.name}"
    if spec.widget == "select":
        return container.selectbox(spec.label, spec.choices, key=key, help=spec.help)
    if spec.widget == "text":
        return container.text_input(spec.label, key=key, help=spec.help)
    step = int(spec.step or 1) if spec.whole else float(spec.step or 0.1)
    return container.number_input(spec.label, key=key, step=step, help=spec.help, placeholder="default",
                                  format=None if spec.whole else "%g")


def option_inputs(specs, prefix: str, columns: int = 2) -> dict:
    """Numbers side by side in `columns` columns, select boxes and text fields full width; -> {name: value}."""
    values, slots = {}, st.columns(columns)
    numbers = 0
    for spec in specs:
        if spec.widget == "number":
            values[spec.name] = option_input(spec, prefix, slots[numbers % columns])
            numbers += 1
        else:
            values[spec.name] = option_input(spec, prefix)
    return values
