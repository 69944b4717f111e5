"""What the model can reach (issue 17): files, writes to the record, and what tool calls show.

Tools the model can call read only files the user attached in this conversation, or files the
assistant wrote in its plans folder; `record_results` writes only in a turn whose message asks to
record results; errors never quote a file the user did not supply; tool-call arguments show files
by name and size and a CIF by its length, never their content.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage, ToolMessage
from typer.testing import CliRunner

from assistant.service import Assistant, arguments_by_reference
from assistant.settings import Settings
from assistant.tools import build_registry
from assistant.tools.base import ToolContext, run_tool
from assistant.tools.record import NOT_ASKED
from cli.app import app
from tests.fake_llm import scripted, tool_call
from tools.domain.errors import MatassistError
from tools.domain.record import ExperimentRecord, read_record, write_record

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:langgraph.*")

SECRET = "sk-test-0123456789abcdefSECRET"
runner = CliRunner()


@pytest.fixture()
def files(tmp_path: Path, demo_record: ExperimentRecord) -> dict[str, Path]:
    """The user's record (40 runs), a results file of 5 new runs, an .env with a key, a shadow-like file."""
    frame = demo_record.frame
    record = tmp_path / "record.csv"
    write_record(ExperimentRecord(frame=frame.head(40).reset_index(drop=True), space=demo_record.space), record)
    new = frame.iloc[40:45].reset_index(drop=True).copy()
    new["experiment_id"] = [f"new-{i}" for i in range(5)]
    results = tmp_path / "results.csv"
    write_record(ExperimentRecord(frame=new, space=demo_record.space), results)
    env = tmp_path / ".env"
    env.write_text(f"OPENAI_API_KEY={SECRET}\nMP_API_KEY=abc\n")
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n")
    return {"record": record, "results": results, "env": env, "shadow": shadow}


def _runs(path: Path) -> int:
    return len(read_record(path))


def _sent_to_model(model) -> str:
    return "\n".join(str(m.content) for batch in model.seen for m in batch if isinstance(m, BaseMessage))


def _tool_messages(model) -> list[str]:
    return [str(m.content) for m in model.seen[-1] if isinstance(m, ToolMessage)]


# -- reading: attachments and the assistant's own files only ---------------------------------------
@pytest.mark.parametrize("target", ["env", "shadow", "/etc/shadow"])
def test_model_cannot_read_a_file_the_user_did_not_attach(files, tmp_path, target):
    path = str(files[target]) if target in files else target
    model = scripted(tool_call("record_results", {"results_file": path}), "Done.")
    assistant = Assistant(Settings(data_dir=tmp_path / "data"), record_path=files["record"], chat_model=model)
    reply = assistant.ask("record these results")  # even when the user asks to record
    assert [(c.name, c.ok) for c in reply.tool_calls] == [("record_results", False)]
    (message,) = _tool_messages(model)
    assert f"'{Path(path).name}' is neither a file attached in this conversation (attached: none)" in message
    sent = _sent_to_model(model)
    assert SECRET not in sent and "saltsalt" not in sent and "root:" not in sent
    assert _runs(files["record"]) == 40


def test_no_write_unless_this_message_asks(files, tmp_path):
    model = scripted(tool_call("record_results", {"results_file": "results.csv"}), "I could not record them.")
    assistant = Assistant(Settings(data_dir=tmp_path / "data"), record_path=files["record"], chat_model=model)
    reply = assistant.ask("what do you think of these runs?", attachments=[files["results"]])
    assert [(c.name, c.ok) for c in reply.tool_calls] == [("record_results", False)]
    (message,) = _tool_messages(model)
    assert NOT_ASKED in message and "say 'record these results'" in message
    assert _runs(files["record"]) == 40
    assert assistant.ctx.write_allowed is False


def test_recording_on_request_appends_the_attached_results(files, tmp_path):
    model = scripted(tool_call("record_results", {"results_file": "results.csv"}), "Recorded 5 runs.")
    assistant = Assistant(Settings(data_dir=tmp_path / "data"), record_path=files["record"], chat_model=model)
    reply = assistant.ask("please record these results", attachments=[files["results"]])
    assert [(c.name, c.ok) for c in reply.tool_calls] == [("record_results", True)], _tool_messages(model)
    assert _runs(files["record"]) == 45
    assert assistant.ctx.write_allowed is False  # only for that turn
    size = files["results"].stat().st_size
    assert reply.tool_calls[0].args == {"results_file": f"<file results.csv, {size:,} bytes>"}
    first_prompt = str(model.seen[0][-1].content)
    assert f"- results.csv ({size:,} bytes)" in first_prompt and str(tmp_path) not in first_prompt


def test_an_attached_non_csv_is_not_quoted_back(files, tmp_path):
    model = scripted(tool_call("record_results", {"results_file": ".env"}), "That file is not a results CSV.")
    assistant = Assistant(Settings(data_dir=tmp_path / "data"), record_path=files["record"], chat_model=model)
    reply = assistant.ask("record these results", attachments=[files["env"]])
    assert not reply.tool_calls[0].ok
    (message,) = _tool_messages(model)
    assert "the header names none of the record's columns" in message
    assert SECRET not in _sent_to_model(model) and "OPENAI_API_KEY" not in message
    assert _runs(files["record"]) == 40


def test_quoted_header_and_cell_text_is_cut(files, tmp_path):
    long_name = "x" * 200
    text = files["results"].read_text().splitlines()
    text[0] = text[0] + "," + long_name
    text[1:] = [line + ",1" for line in text[1:]]
    text[1] = text[1].replace(text[1].split(",")[0], "0." + "9" * 100, 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(MatassistError) as info:
        read_record(bad)
    message = str(info.value)
    assert long_name not in message and "'" + "x" * 37 + "...'" in message
    assert "9" * 50 not in message


def test_offline_router_records_only_when_asked(files, tmp_path):
    assistant = Assistant(Settings(data_dir=tmp_path / "data"), record_path=files["record"])
    checked = assistant.ask("check this file", attachments=[files["results"]])
    assert [c.name for c in checked.tool_calls] == ["use_record"]
    assert _runs(files["record"]) == 40
    assistant.set_record(files["record"])
    recorded = assistant.ask("record these results", attachments=[files["results"]])
    assert [(c.name, c.ok) for c in recorded.tool_calls] == [("record_results", True)], recorded.answer
    assert _runs(files["record"]) == 45
    assert recorded.tool_calls[0].args["results_file"].startswith("<file results.csv, ")


def test_a_results_template_the_assistant_wrote_is_readable(files, tmp_path):
    data = tmp_path / "data"
    ctx = ToolContext(settings=Settings(data_dir=data), record_path=files["record"])
    plans = data / "plans" / "2026-01-01-shot-2-1"
    plans.mkdir(parents=True)
    template = plans / "results_template.csv"
    template.write_bytes(files["results"].read_bytes())  # "filled in"
    spec = build_registry()["record_results"]
    ctx.written_files.append(template)
    refused = run_tool(ctx, spec, {"results_file": "results_template.csv"})
    assert not refused.ok and NOT_ASKED in refused.summary  # reading is allowed, writing still needs the request
    ctx.write_allowed = True
    by_name = run_tool(ctx, spec, {"results_file": "results_template.csv"})
    assert by_name.ok, by_name.summary
    assert _runs(files["record"]) == 45
    # a path under the plans folder works across sessions; a way out of it does not
    fresh = ToolContext(settings=Settings(data_dir=data), record_path=files["record"], write_allowed=True)
    escape = str(plans / ".." / ".." / ".." / ".env")
    assert "is neither a file attached" in run_tool(fresh, spec, {"results_file": escape}).summary
    link = plans / "link.csv"
    link.symlink_to(files["env"])
    assert "is neither a file attached" in run_tool(fresh, spec, {"results_file": str(link)}).summary


def test_an_attached_cif_is_passed_by_name(tmp_path):
    cif = tmp_path / "junk.cif"
    cif.write_text("data_junk\n_cell_length_a 3.0\n")
    result = runner.invoke(app, ["ask", "is this CIF sound?", "--attach", str(cif), "--json"])
    assert result.exit_code == 0, result.output
    call = json.loads(result.stdout)["tool_calls"][0]
    assert call["name"] == "validate_cif"
    assert call["args"] == {"file_name": f"<file junk.cif, {cif.stat().st_size} bytes>"}
    human = runner.invoke(app, ["ask", "is this CIF sound?", "--attach", str(cif)])
    assert f"tools: validate_cif(file_name=<file junk.cif, {cif.stat().st_size} bytes>)" in human.stderr


def test_the_cif_tool_reads_only_attachments(tmp_path):
    ctx = ToolContext(settings=Settings(data_dir=tmp_path / "data"))
    spec = build_registry()["validate_cif"]
    other = tmp_path / "other.cif"
    other.write_text("data_x\n")
    refused = run_tool(ctx, spec, {"file_name": str(other), "physical": False})
    assert not refused.ok and "is not a file attached in this conversation" in refused.summary
    assert "give the CIF text" in run_tool(ctx, spec, {}).summary
    ctx.attachments = [other]
    read = run_tool(ctx, spec, {"file_name": "other.cif", "physical": False})
    assert read.ok and read.summary.startswith("other.cif: NOT sound")


def test_arguments_are_shown_by_reference(tmp_path):
    attached = tmp_path / "runs.csv"
    attached.write_text("a,b\n1,2\n")
    cif = "data_x\n" + "_atom_site_label Li\n" * 200
    shown = arguments_by_reference(
        {"cif_text": cif, "results_file": str(attached), "name": "runs.csv", "question": "q" * 400,
         "fixed": {"ni": 0.94}, "runs": [{"params": {"coating": "B"}}]},
        [attached],
    )
    assert shown == {
        "cif_text": f"<CIF, {len(cif):,} characters>",
        "results_file": "<file runs.csv, 8 bytes>",
        "name": "<file runs.csv, 8 bytes>",
        "question": "<text, 400 characters>",
        "fixed": {"ni": 0.94},
        "runs": [{"params": {"coating": "B"}}],
    }


def test_a_pasted_cif_is_shown_by_length(tmp_path):
    cif = "data_pasted\n_cell_length_a 3.0\n_cell_length_b 3.0\n"
    assistant = Assistant(Settings(data_dir=tmp_path / "data"))
    reply = assistant.ask(f"check this CIF:\n{cif}")
    assert reply.tool_calls and reply.tool_calls[0].name == "validate_cif"
    assert reply.tool_calls[0].args["cif_text"].startswith("<CIF, ")
    assert "_cell_length_b" not in json.dumps([c.args for c in reply.tool_calls])


def test_an_attachment_that_is_not_a_regular_file_is_refused(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    pipe = tmp_path / "p.csv"
    os.mkfifo(pipe)
    with pytest.raises(MatassistError, match="attachment .*p.csv: not a regular file"):
        Assistant(Settings(data_dir=tmp_path / "data")).ask("check this", attachments=[pipe])
