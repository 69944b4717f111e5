"""matassist in the browser: a chat over the assistant, with the pictures a scientist wants to see.

A thin shell: every answer comes from `assistant.service.Assistant`; this file only lays out
chat, sidebar, uploads, tables, figures and downloads. Each browser session has its own
assistant, its own folder under the data directory and its own active record; sessions share
a record only when someone loads it from the shared store on purpose.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import streamlit as st

from assistant.service import (
    Assistant,
    AssistantReply,
    MatassistError,
    RecordInfo,
    ToolOutput,
    proposals_csv,
    proposals_frame,
    save_upload,
)

st.set_page_config(page_title="matassist", page_icon=":material/battery_charging_full:", layout="wide")
# wide tables in an answer (ten proposals x eighteen parameters) scroll inside the message instead of running off the page
st.markdown(
    "<style>[data-testid='stChatMessage'] [data-testid='stMarkdownContainer'] table "
    "{display: block; overflow-x: auto; max-width: 100%;}</style>",
    unsafe_allow_html=True,
)

EXAMPLES = (
    "propose next 94% Ni conditions",
    "draft an experiment plan for 8 runs at 93% Ni in air",
    "how biased is my experiment record?",
    "predict capacity at 94% Ni, 765 °C with Nb2O5 at 0.002",
    "what average voltage would LiNi0.5Mn1.5O4 give vs Li?",
)


# -- session ---------------------------------------------------------------------------------
def _session() -> Any:
    state = st.session_state
    if "assistant" not in state:
        assistant = Assistant.from_environment()
        session_dir = assistant.settings.ensure_data_dir() / "ui-sessions" / uuid.uuid4().hex[:12]
        session_dir.mkdir(parents=True, exist_ok=True)
        state.session_dir = session_dir
        state.assistant = assistant
        state.messages = []
        state.fixed = {}
        state.uploads_seen = set()
    return state


# -- rendering -------------------------------------------------------------------------------
def _render_outputs(message: dict[str, Any], key: str) -> None:
    state = _session()
    images = message.setdefault("images", {})  # rendered once: every rerun of the page shows the same PNGs
    for i, (call, raw) in enumerate(zip(message["calls"], message["outputs"], strict=False)):
        output = ToolOutput.model_validate(raw)
        icon = ":material/build:" if output.ok else ":material/warning:"
        with st.expander(f"tool: {call['name']}" + ("" if output.ok else " (error)"), expanded=False, icon=icon):
            st.caption("arguments")
            st.json(call["args"], expanded=False)
            st.caption("result")
            st.markdown(output.summary)
        if not output.ok:
            continue
        if call["name"] == "propose_conditions":
            if output.data.get("proposals"):
                if output.data.get("purpose"):
                    st.caption(f"This batch: {output.data['purpose']}")
                table = proposals_frame(output.data)
                st.dataframe(table, hide_index=True, width="stretch")
                if i not in images:
                    try:
                        images[i] = state.assistant.proposal_images(output.data)
                    except MatassistError as err:
                        st.warning(str(err))
                        images[i] = []
                for column, png in zip(st.columns(2), images[i], strict=False):
                    with column:
                        st.image(png, width="stretch")
                st.download_button("Download proposals (CSV)", proposals_csv(output.data).encode(), file_name="proposals.csv",
                                   mime="text/csv", key=f"{key}-dl-proposals-{i}")
        elif call["name"] == "draft_experiment_plan":
            for f in output.files:
                path = Path(f)
                if path.exists():
                    mime = "text/markdown" if path.suffix == ".md" else "text/csv"
                    st.download_button(f"Download {path.name}", path.read_bytes(), file_name=path.name, mime=mime,
                                       key=f"{key}-dl-{path.name}-{i}")
        elif call["name"] in {"profile_dataset", "train_model", "predict_electrode"}:
            for f in output.files:
                if f.endswith(".png") and Path(f).exists():
                    st.image(f)


def _render_message(message: dict[str, Any], index: int) -> None:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])
        if message.get("outputs"):
            _render_outputs(message, key=f"m{index}")
        if message.get("unverified"):
            st.caption(f"numbers not found in any tool result: {', '.join(message['unverified'])}")


def _store_reply(reply: AssistantReply) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": reply.answer,
        "calls": [{"name": c.name, "args": c.args} for c in reply.tool_calls],
        "outputs": [o.model_dump(mode="json") for o in reply.outputs],
        "unverified": reply.unverified_numbers,
    }


def _answer(prompt: str, attachments: list[Path]) -> None:
    state = _session()
    assistant: Assistant = state.assistant
    with st.chat_message("assistant"):
        status = st.status("working ...", expanded=False)
        assistant.ctx.progress = lambda msg: status.write(msg)
        try:
            if assistant.backend == "offline":
                reply = assistant.ask(prompt, attachments)
            else:
                chunks = assistant.stream(prompt, attachments)
                final: list[AssistantReply] = []

                def text_only() -> Any:
                    for chunk in chunks:
                        if isinstance(chunk, AssistantReply):
                            final.append(chunk)
                        else:
                            yield chunk

                st.write_stream(text_only())
                reply = final[-1]
        except MatassistError as err:
            status.update(label="failed", state="error")
            st.error(str(err))
            state.messages.append({"role": "assistant", "content": f"**error:** {err}"})
            return
        finally:
            assistant.ctx.progress = None
        status.update(label=f"done: {', '.join(c.name for c in reply.tool_calls) or 'no tool'}", state="complete")
    state.messages.append(_store_reply(reply))
    st.rerun()


# -- sidebar -----------------------------------------------------------------------------------
def _uploads(assistant: Assistant) -> None:
    """Take the sidebar's uploads first, so everything drawn after them shows their effect."""
    state = _session()
    upload = st.session_state.get("record_upload")
    if upload is not None and (upload.name, upload.size) not in state.uploads_seen:
        state.uploads_seen.add((upload.name, upload.size))
        try:
            assistant.load_record_upload(upload.name, upload.getvalue(), state.session_dir)
            state.record_error = None
        except MatassistError as err:
            state.record_error = str(err)
    results = st.session_state.get("results_upload")
    if results is not None and (results.name, results.size, "results") not in state.uploads_seen:
        state.uploads_seen.add((results.name, results.size, "results"))
        path = save_upload(results.name, results.getvalue(), state.session_dir)
        state.pending = (f"record these results from {results.name}", [path])
    cif = st.session_state.get("cif_upload")
    if cif is not None and (cif.name, cif.size, "cif") not in state.uploads_seen:
        state.uploads_seen.add((cif.name, cif.size, "cif"))
        path = save_upload(cif.name, cif.getvalue(), state.session_dir)
        state.pending = (f"is this CIF sound? ({cif.name})", [path])


def _record_section(assistant: Assistant) -> RecordInfo | None:
    state = _session()
    st.subheader("Experiment record")
    try:
        info = assistant.record_info()
    except MatassistError as err:
        st.error(str(err))
        info = None
    st.markdown(f"Active: **{info.label if info else 'none'}**")
    st.file_uploader("Upload a record (CSV)", type=["csv"], key="record_upload")
    if state.get("record_error"):
        st.error(state.record_error)
    if info is not None and not info.using_demo and st.button("Use the demo record instead"):
        assistant.set_record(None)
        st.rerun()
    if info is not None:
        levels = f"; Ni levels: {', '.join(f'{k}: {v}' for k, v in info.levels.items())}" if info.levels else ""
        st.caption(f"{info.runs} runs, {info.failed} failed{levels}")
        if info.simulated:
            st.caption(":material/warning: every run in this record is simulated (source=synthetic)")
    return info


def _literature_section(assistant: Assistant) -> None:
    state = _session()
    papers = st.file_uploader("Add to the literature store (PDF, Markdown, text, BibTeX, RIS)",
                              type=["pdf", "md", "txt", "bib", "ris"], accept_multiple_files=True, key="lit_upload")
    fresh = [p for p in papers or [] if (p.name, p.size, "lit") not in state.uploads_seen]
    if not fresh:
        return
    for p in fresh:
        state.uploads_seen.add((p.name, p.size, "lit"))
    paths = [save_upload(p.name, p.getvalue(), state.session_dir) for p in fresh]
    with st.spinner("ingesting (the embedding model loads once, about 10 s) ..."):
        try:
            result = assistant.ingest_documents(paths)
        except MatassistError as err:
            st.error(str(err))
            return
    st.success(f"added {result.chunks_added} passages; the store holds {result.store_chunks}")
    for r in result.files:
        if r.status == "failed":
            st.error(f"{Path(r.path).name}: {r.message}")


def _fixed_values_form(assistant: Assistant) -> None:
    state = _session()
    st.subheader("Design space")
    controls = {c.name: c for c in assistant.parameter_controls()}
    with st.form("fixed_values"):
        chosen = st.multiselect("Hold fixed", list(controls), default=list(state.fixed))
        values: dict[str, Any] = {}
        for name in chosen:
            c = controls[name]
            current = state.fixed.get(name)
            if c.kind == "category":
                values[name] = st.selectbox(name, c.values, index=c.values.index(current) if current in c.values else 0)
            else:
                assert c.low is not None and c.high is not None
                values[name] = st.number_input(
                    f"{name} ({c.unit})", min_value=float(c.low), max_value=float(c.high),
                    value=float(current) if current is not None else float(c.low), step=float(c.step or 0.01),
                    format="%.4g",
                )
        n = st.number_input("Proposals", min_value=1, max_value=50, value=10, step=1)
        if st.form_submit_button("Propose with these fixed values"):
            state.fixed = values
            state.pending_call = ("propose_conditions", {"fixed": values, "n": int(n)})


def _constraints_section(assistant: Assistant, where: str) -> None:
    """The constraints in force, each with a remove button, and "clear all"."""
    items = assistant.constraint_descriptions()
    if where == "sidebar":
        st.subheader("Constraints in force")
        if not items:
            st.caption("none yet: say e.g. \"keep calcination below 760 °C\" or \"no W coating\"")
            return
    elif not items:
        return
    else:
        st.caption("Holding: " + "; ".join(text for _, text in items))
    columns = st.columns(min(len(items) + 1, 6)) if where == "main" else [st.container()] * (len(items) + 1)
    for i, (parameter, text) in enumerate(items):
        with columns[i % len(columns)]:
            if st.button(f"{text}", key=f"drop-{where}-{parameter}", icon=":material/close:", help=f"drop the constraint on {parameter}"):
                assistant.drop_constraint(parameter)
                st.rerun()
    with columns[len(items) % len(columns)]:
        if st.button("clear all", key=f"clear-{where}", icon=":material/clear_all:"):
            assistant.clear_constraints()
            st.rerun()


def _sidebar() -> None:
    state = _session()
    assistant: Assistant = state.assistant
    _uploads(assistant)
    with st.sidebar:
        st.header("matassist")
        st.markdown(f"**Backend:** {assistant.label}")
        if assistant.backend == "offline":
            st.caption("No LLM key set: answers come from the tools through the offline router. "
                       "Set OPENAI_API_KEY or MATASSIST_LLM_BASE_URL for a language model.")
        info = _record_section(assistant)
        _constraints_section(assistant, "sidebar")
        st.file_uploader("Record results (CSV)", type=["csv"], key="results_upload")
        st.file_uploader("Check a CIF", type=["cif"], key="cif_upload")
        _literature_section(assistant)
        if info is not None:
            _fixed_values_form(assistant)
        st.subheader("Data directory")
        st.code(str(assistant.settings.data_dir), language=None)
        st.caption(f"this session's files: {state.session_dir.name}")


# -- page ------------------------------------------------------------------------------------
def main() -> None:
    state = _session()
    _sidebar()
    st.title("matassist")
    st.caption("Battery-cathode research assistant: proposals, plans, capacity model, CIF checks, literature.")
    if not state.messages:
        st.markdown("Try: " + " · ".join(f"`{e}`" for e in EXAMPLES))
    for index, message in enumerate(state.messages):
        _render_message(message, index)

    if state.get("pending_call"):
        name, args = state.pending_call
        state.pending_call = None
        output = state.assistant.call(name, args)
        state.messages.append({"role": "user", "content": f"(sidebar) {name} {json.dumps(args)}"})
        state.messages.append({"role": "assistant", "content": output.summary, "calls": [{"name": name, "args": args}],
                               "outputs": [output.model_dump(mode="json")]})
        st.rerun()
    if state.get("pending"):
        prompt, attachments = state.pending
        state.pending = None
        state.messages.append({"role": "user", "content": prompt})
        _answer(prompt, attachments)

    _constraints_section(state.assistant, "main")
    submitted = st.chat_input("Ask, e.g. propose next 94% Ni conditions", accept_file="multiple",
                              file_type=["csv", "cif", "pdf", "md", "txt"])
    if submitted:
        text = submitted if isinstance(submitted, str) else (submitted.text or "")
        files = [] if isinstance(submitted, str) else list(submitted.files or [])
        attachments = [save_upload(f.name, f.getvalue(), state.session_dir) for f in files]
        shown = text + (f"\n\nattached: {', '.join(f.name for f in files)}" if files else "")
        state.messages.append({"role": "user", "content": shown})
        _render_message(state.messages[-1], len(state.messages) - 1)
        _answer(text or "check this file", attachments)


main()
