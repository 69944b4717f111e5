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

import pandas as pd
import streamlit as st

from assistant.service import Assistant, AssistantReply
from assistant.settings import Settings
from assistant.tools.base import ToolOutput, run_tool
from tools.domain.design_space import CategoryParameter, NumberParameter
from tools.domain.errors import MatassistError
from tools.domain.fileio import atomic_write_bytes
from tools.domain.record import read_record

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
)


# -- session ---------------------------------------------------------------------------------
def _session() -> dict[str, Any]:
    state = st.session_state
    if "assistant" not in state:
        settings = Settings()
        session_dir = settings.ensure_data_dir() / "ui-sessions" / uuid.uuid4().hex[:12]
        session_dir.mkdir(parents=True, exist_ok=True)
        state.settings = settings
        state.session_dir = session_dir
        state.assistant = Assistant(settings)
        state.messages = []
        state.record_label = "built-in demo record (simulated)"
        state.fixed = {}
        state.uploads_seen = set()
    return state  # type: ignore[return-value]


def _save_upload(name: str, data: bytes, folder: Path) -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name) or "upload"
    path = folder / safe
    atomic_write_bytes(path, data)
    return path


# -- rendering -------------------------------------------------------------------------------
def _proposal_rows(output: ToolOutput) -> list[dict[str, Any]]:
    return list(output.data.get("proposals", []))


def _render_outputs(reply_outputs: list[dict[str, Any]], calls: list[dict[str, Any]], key: str) -> None:
    from tools.proposer.output import proposals_figure, record_vs_proposals_figure

    state = _session()
    for i, (call, raw) in enumerate(zip(calls, reply_outputs, strict=False)):
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
            rows = _proposal_rows(output)
            if rows:
                table = pd.DataFrame(
                    [{"#": k + 1, "reason": r["reason"], "predicted_mah_g": round(r["predicted_mah_g"], 1),
                      "uncertainty_mah_g": round(r["uncertainty_mah_g"], 1), "p_fail": round(r["failure_probability"], 2),
                      **r["params"]} for k, r in enumerate(rows)]
                )
                st.dataframe(table, hide_index=True, use_container_width=True)
                left, right = st.columns(2)
                with left:
                    st.pyplot(proposals_figure(rows), clear_figure=True)
                with right:
                    try:
                        record = state.assistant.ctx.record()
                        st.pyplot(record_vs_proposals_figure(record, rows), clear_figure=True)
                    except MatassistError as err:
                        st.warning(str(err))
                st.download_button("Download proposals (CSV)", table.to_csv(index=False).encode(), file_name="proposals.csv",
                                   mime="text/csv", key=f"{key}-dl-proposals-{i}")
        elif call["name"] == "draft_experiment_plan":
            for f in output.files:
                path = Path(f)
                if path.exists():
                    mime = "text/markdown" if path.suffix == ".md" else "text/csv"
                    st.download_button(f"Download {path.name}", path.read_bytes(), file_name=path.name, mime=mime,
                                       key=f"{key}-dl-{path.name}-{i}")
        elif call["name"] == "profile_dataset":
            for f in output.files:
                if f.endswith(".png") and Path(f).exists():
                    st.image(f)


def _render_message(message: dict[str, Any], index: int) -> None:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])
        if message.get("outputs"):
            _render_outputs(message["outputs"], message["calls"], key=f"m{index}")
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
def _sidebar() -> None:
    state = _session()
    assistant: Assistant = state.assistant
    with st.sidebar:
        st.header("matassist")
        st.markdown(f"**Backend:** {assistant.label}")
        if assistant.backend == "offline":
            st.caption("No LLM key set: answers come from the tools through the offline router. "
                       "Set OPENAI_API_KEY or MATASSIST_LLM_BASE_URL for a language model.")

        st.subheader("Experiment record")
        st.markdown(f"Active: **{state.record_label}**")
        upload = st.file_uploader("Upload a record (CSV)", type=["csv"], key="record_upload")
        if upload is not None and (upload.name, upload.size) not in state.uploads_seen:
            state.uploads_seen.add((upload.name, upload.size))
            _load_record_upload(upload.name, upload.getvalue())
        if state.get("record_error"):
            st.error(state.record_error)
        if assistant.ctx.record_path is not None and st.button("Use the demo record instead"):
            assistant.set_record(None)
            state.record_label = "built-in demo record (simulated)"
            st.rerun()
        try:
            record = assistant.ctx.record()
            frame = record.frame
            st.caption(
                f"{len(frame)} runs, {int((frame['status'] == 'failed').sum())} failed"
                + (f"; Ni levels: {', '.join(f'{k:g}: {v}' for k, v in frame['ni'].value_counts().sort_index().items())}" if "ni" in frame else "")
            )
            if (frame["source"] == "synthetic").all():
                st.caption(":material/warning: every run in this record is simulated (source=synthetic)")
        except MatassistError as err:
            st.error(str(err))
            record = None

        results = st.file_uploader("Record results (CSV)", type=["csv"], key="results_upload")
        if results is not None and (results.name, results.size, "results") not in state.uploads_seen:
            state.uploads_seen.add((results.name, results.size, "results"))
            path = _save_upload(results.name, results.getvalue(), state.session_dir)
            state.pending = (f"record these results from {results.name}", [path])

        cif = st.file_uploader("Check a CIF", type=["cif"], key="cif_upload")
        if cif is not None and (cif.name, cif.size, "cif") not in state.uploads_seen:
            state.uploads_seen.add((cif.name, cif.size, "cif"))
            path = _save_upload(cif.name, cif.getvalue(), state.session_dir)
            state.pending = (f"is this CIF sound? ({cif.name})", [path])

        papers = st.file_uploader("Add to the literature store (PDF, Markdown, text, BibTeX, RIS)",
                                  type=["pdf", "md", "txt", "bib", "ris"], accept_multiple_files=True, key="lit_upload")
        fresh = [p for p in papers or [] if (p.name, p.size, "lit") not in state.uploads_seen]
        if fresh:
            from assistant.tools.literature import ingest_documents

            for p in fresh:
                state.uploads_seen.add((p.name, p.size, "lit"))
            paths = [_save_upload(p.name, p.getvalue(), state.session_dir) for p in fresh]
            with st.spinner("ingesting (the embedding model loads once, about 10 s) ..."):
                try:
                    result = ingest_documents(state.settings, paths)
                except MatassistError as err:
                    st.error(str(err))
                else:
                    bad = [f"{Path(r.path).name}: {r.message}" for r in result.files if r.status == "failed"]
                    st.success(f"added {result.chunks_added} passages; the store holds {result.store_chunks}")
                    for line in bad:
                        st.error(line)

        if record is not None:
            st.subheader("Design space")
            space = record.space
            with st.form("fixed_values"):
                chosen = st.multiselect("Hold fixed", space.names, default=list(state.fixed))
                values: dict[str, Any] = {}
                for name in chosen:
                    p = space.parameter(name)
                    current = state.fixed.get(name)
                    if isinstance(p, CategoryParameter):
                        values[name] = st.selectbox(name, p.values, index=p.values.index(current) if current in p.values else 0)
                    elif isinstance(p, NumberParameter):
                        values[name] = st.number_input(
                            f"{name} ({p.unit})", min_value=float(p.low), max_value=float(p.high),
                            value=float(current) if current is not None else float(p.low), step=float(p.step or 0.01),
                            format="%.4g",
                        )
                n = st.number_input("Proposals", min_value=1, max_value=50, value=10, step=1)
                if st.form_submit_button("Propose with these fixed values"):
                    state.fixed = values
                    state.pending_call = ("propose_conditions", {"fixed": values, "n": int(n)})
        st.subheader("Data directory")
        st.code(str(state.settings.data_dir), language=None)
        st.caption(f"this session's files: {state.session_dir.name}")


def _load_record_upload(name: str, data: bytes) -> None:
    """Validate an uploaded record in a temporary file; only a valid one becomes active."""
    state = _session()
    staging = state.session_dir / f".staging-{uuid.uuid4().hex[:6]}.csv"
    atomic_write_bytes(staging, data)
    try:
        record = read_record(staging, space=state.assistant.ctx.space())
    except MatassistError as err:
        staging.unlink(missing_ok=True)
        state.record_error = f"{name} was not loaded: {err}".replace(str(staging), name)
        return
    final = state.session_dir / f"record-{Path(name).stem}.csv"
    staging.replace(final)
    state.assistant.set_record(final)
    state.record_label = f"{name} ({len(record)} runs)"
    state.record_error = None


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
        output = run_tool(state.assistant.ctx, state.assistant.registry[name], args)
        state.messages.append({"role": "user", "content": f"(sidebar) {name} {json.dumps(args)}"})
        state.messages.append({"role": "assistant", "content": output.summary, "calls": [{"name": name, "args": args}],
                               "outputs": [output.model_dump(mode="json")]})
        st.rerun()
    if state.get("pending"):
        prompt, attachments = state.pending
        state.pending = None
        state.messages.append({"role": "user", "content": prompt})
        _answer(prompt, attachments)

    submitted = st.chat_input("Ask, e.g. propose next 94% Ni conditions", accept_file="multiple",
                              file_type=["csv", "cif", "pdf", "md", "txt"])
    if submitted:
        text = submitted if isinstance(submitted, str) else (submitted.text or "")
        files = [] if isinstance(submitted, str) else list(submitted.files or [])
        attachments = [_save_upload(f.name, f.getvalue(), state.session_dir) for f in files]
        shown = text + (f"\n\nattached: {', '.join(f.name for f in files)}" if files else "")
        state.messages.append({"role": "user", "content": shown})
        _render_message(state.messages[-1], len(state.messages) - 1)
        _answer(text or "check this file", attachments)


main()
