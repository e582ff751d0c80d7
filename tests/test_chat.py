"""Chat prompts and chat replies: the tokenizer's template, the answer read out of the reply
(reasoning removed, last fenced block), end of turn / fence end / reasoning cut, and the
same path in training (rollouts, line credit) and evaluation.

The model is a tiny random Llama with a ChatML tokenizer built here (`tests.tiny_models`,
``vocab="chat"``); its replies are forced token by token (`forced`) through the real
`generate`, stop criteria, scoring and evaluation code.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from rewards import RewardConfig, TestSpec
from rewards.extraction import UNCLOSED_REASONING
from tests.tiny_models import build_chat_tokenizer, build_code_tokenizer, build_tiny_model
from trainer.chat import ChatFormat, choose_format, end_of_turn_ids
from trainer.config import Config, ConfigError, DataConfig, GenerationSettings, validate
from trainer.data import TaskExample, translation_example
from trainer.evaluate import evaluate_policy
from trainer.generation import StopRules, generate
from trainer.policy import Policy
from trainer.rollout import RewardWorkers, collect, response_lines

torch.set_num_threads(1)

STUB = 'def double(x):\n    """Return twice x."""\n'
TESTS = TestSpec.parse(["assert double(2) == 4", "assert double(-1) == -2"])
CHAT = ChatFormat()
GOOD = "Here it is:\n```python\ndef double(x):\n    return 2 * x\n```\n"


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "chat", "causal", vocab="chat")
    torch.manual_seed(0)
    return Policy.load(path, lora=False)


def humaneval_like(stub: str = STUB) -> TaskExample:
    return TaskExample(prompt=stub, language="python", code_prefix=stub, reference=None,
                       tests=TESTS, id="double")


def mbpp_like() -> TaskExample:
    return TaskExample(prompt="Write a function double(x) that returns twice x.",
                       language="python", code_prefix="", reference=None, tests=TESTS, id="d2")


def ids_of(policy: Policy, text: str) -> list[int]:
    return policy.tokenizer(text, add_special_tokens=False)["input_ids"]


@contextlib.contextmanager
def forced(policy: Policy, scripts: list[list[int]]) -> Iterator[None]:
    """Make the model write `scripts[row]` token by token in the next generate() call
    (then EOS): every forward pass puts all probability on the scripted token."""
    original = policy.model.forward
    step = [0]
    eos = policy.tokenizer.eos_token_id

    def forward(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        out = original(*args, **kwargs)
        logits = torch.full_like(out.logits[:, -1], -1e4)
        for row, script in enumerate(scripts):
            logits[row, script[step[0]] if step[0] < len(script) else eos] = 1e4
        out.logits[:, -1] = logits
        step[0] += 1
        return out

    policy.model.forward = forward
    try:
        yield
    finally:
        del policy.model.forward


def run(policy: Policy, examples: list[TaskExample], replies: list[list[int]],
        chat: ChatFormat | None = CHAT, max_new_tokens: int = 120, **kw):  # noqa: ANN003, ANN201
    with forced(policy, replies):
        return generate(policy, examples, max_prompt_tokens=256, max_new_tokens=max_new_tokens,
                        temperature=0.0, rules=StopRules(), chat=chat, **kw)


# ----------------------------------------------------------------------------- prompts


def test_the_prompt_is_the_tokenizers_chat_template(policy: Policy) -> None:
    tok = policy.tokenizer
    ex = humaneval_like()
    out = run(policy, [ex], [ids_of(policy, GOOD)], ChatFormat(system_prompt="Be brief."))
    prompt = tok.decode(out.query_ids[0][out.query_mask[0].bool()].tolist())
    user = ChatFormat().user_message(ex)[0].replace("\x00PPOCODER-CUTTABLE\x00", STUB)
    want = tok.apply_chat_template([{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": user}],
                                   tokenize=False, add_generation_prompt=True)
    assert prompt == want  # no extra BOS, nothing of our own around the template's text
    assert "```python\n" + STUB + "```" in prompt and prompt.endswith("<|im_start|>assistant\n")
    raw = run(policy, [ex], [ids_of(policy, GOOD)], chat=None, max_new_tokens=3)
    assert tok.decode(raw.query_ids[0][raw.query_mask[0].bool()].tolist()) == STUB


def test_truncation_cuts_the_problem_never_the_template(policy: Policy) -> None:
    ex = mbpp_like()
    long = TaskExample(**{**ex.__dict__, "prompt": "x = 1\n" * 400})
    fixed = ChatFormat().render(policy.tokenizer, TaskExample(**{**ex.__dict__, "prompt": ""}))
    budget = len(ids_of(policy, fixed.prompt)) + 12
    with forced(policy, [ids_of(policy, GOOD)]):
        out = generate(policy, [long], max_prompt_tokens=budget, max_new_tokens=2,
                       temperature=0.0, chat=ChatFormat())
    prompt = policy.tokenizer.decode(out.query_ids[0][out.query_mask[0].bool()].tolist())
    assert prompt.startswith("<|im_start|>user\nx = 1\n")
    assert prompt.endswith("code block.<|im_end|>\n<|im_start|>assistant\n")
    assert int(out.query_mask.sum()) == budget


def test_translation_prompt_shows_the_source_program(policy: Policy) -> None:
    ex = translation_example("// {source_language}:\n{source}\n// {language}:\n",
                             "int f() { return 1; }", "java", "cpp", None, "t1")
    rendered = ChatFormat().render(policy.tokenizer, ex).prompt
    assert "Translate this Java program to C++." in rendered
    assert "```java\nint f() { return 1; }\n```" in rendered and "```cpp code block" in rendered


def test_auto_picks_chat_only_with_a_template_and_a_chat_task() -> None:
    chat, plain = build_chat_tokenizer(), build_code_tokenizer()
    assert choose_format("auto", chat, "synthesis") == "chat"
    assert choose_format("auto", chat, "translation") == "chat"
    assert choose_format("auto", chat, "completion") == "raw"
    assert choose_format("auto", plain, "synthesis") == "raw"
    assert choose_format("raw", chat, "synthesis") == "raw"
    with pytest.raises(ValueError, match="chat template"):
        choose_format("chat", plain, "synthesis", "my-model")
    with pytest.raises(ValueError, match="completion continues"):
        choose_format("chat", chat, "completion")


def test_prompt_format_in_the_config_tree() -> None:
    cfg = Config()
    cfg.generation.prompt_format = "chat"
    with pytest.raises(ConfigError, match="completion"):
        validate(cfg)  # the default data is stdlib completion
    cfg.data = DataConfig(source="humaneval")
    validate(cfg)
    cfg.generation.chat_synthesis = "no placeholder"
    with pytest.raises(ConfigError, match="prompt"):
        validate(cfg)
    cfg.generation.chat_synthesis = "{prompt} {nope}"
    with pytest.raises(ConfigError, match="not a valid template"):
        validate(cfg)
    g = GenerationSettings(system_prompt="S", max_thinking_tokens=7)
    fmt = g.chat_format(build_chat_tokenizer(), "synthesis")
    assert fmt is not None and fmt.system_prompt == "S" and fmt.max_thinking_tokens == 7
    assert GenerationSettings(prompt_format="raw").chat_format(build_chat_tokenizer(),
                                                               "synthesis") is None


# ------------------------------------------------------------------------ how replies end


def test_end_of_turn_ends_a_reply_like_eos(policy: Policy) -> None:
    tok = policy.tokenizer
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.eos_token == "<|endoftext|>" and end_of_turn_ids(tok) == {im_end}
    assert im_end in policy.eos_token_ids
    script = ids_of(policy, GOOD) + [im_end] + ids_of(policy, "junk after the turn")
    out = run(policy, [humaneval_like()], [script], ChatFormat(fence_end=False))
    n = int(out.response_mask[0].sum())
    assert out.ends == ["eos"] and n == len(ids_of(policy, GOOD)) + 1
    assert int(out.response_ids[0, n - 1]) == im_end  # the scored token ended the reply
    assert out.replies == [GOOD]
    assert out.texts == ["def double(x):\n    return 2 * x\n"]


def test_the_reply_ends_where_its_answer_block_closes(policy: Policy) -> None:
    prose = "```text\nnot code\n```\nThen:\n"
    script = ids_of(policy, prose + GOOD + "Some more prose that is never generated.")
    out = run(policy, [mbpp_like()], [script], max_new_tokens=200)
    n = int(out.response_mask[0].sum())
    assert out.ends == ["fence_end"] and out.replies == [prose + GOOD]
    assert n == len(ids_of(policy, prose + GOOD))  # the token that completed "```\n" is last
    assert (out.response_ids[0, n:] == policy.pad_token_id).all()
    assert out.texts == ["def double(x):\n    return 2 * x\n"]
    # a bare fence that opens a new block is no end; without the rule the reply runs on
    opened = run(policy, [mbpp_like()], [ids_of(policy, "```\ndef double(x):\n")],
                 max_new_tokens=100)
    assert opened.ends == ["eos"]
    free = run(policy, [mbpp_like()], [script], ChatFormat(fence_end=False), max_new_tokens=200)
    assert free.ends == ["eos"] and free.replies[0].endswith("never generated.")


# ------------------------------------------------------------------------------ reasoning


def test_code_inside_reasoning_is_not_the_answer(policy: Policy) -> None:
    draft = "<think>\n```python\ndef double(x):\n    return 0\n```\n</think>\n"
    out = run(policy, [humaneval_like()], [ids_of(policy, draft + GOOD)], max_new_tokens=120)
    assert out.ends == ["fence_end"] and out.replies == [draft + GOOD]  # no stop inside <think>
    assert out.texts == ["def double(x):\n    return 2 * x\n"]


def test_a_reply_cut_while_reasoning_is_empty_and_never_compiled(policy: Policy) -> None:
    thinking = "<think>\nI could write:\n```python\ndef double(x):\n    return 2 * x\n```\n"
    script = ids_of(policy, thinking + "and check it again and again")
    budget = len(ids_of(policy, thinking)) + 2
    workers = RewardWorkers(RewardConfig(use_ast=False, use_dfg=False, threads=1), workers=0)
    try:
        with forced(policy, [script, script]):
            batch = collect(policy, [humaneval_like(), mbpp_like()], workers,
                            max_prompt_tokens=256, max_new_tokens=budget, temperature=0.0,
                            chat=ChatFormat())
    finally:
        workers.close()
    assert batch.ends == ["truncated", "truncated"]
    for answer, scored in zip(batch.answers, batch.scored):
        assert answer.code == "" and answer.empty_reason == UNCLOSED_REASONING
        assert scored.outcome == "empty"  # a failure; the draft in <think> never ran
        assert scored.total == RewardConfig().execution_values.for_outcome("empty")
    assert batch.texts == ["", ""]


def test_the_thinking_budget_ends_a_reply_still_reasoning(policy: Policy) -> None:
    script = ids_of(policy, "<think>\n" + "x = 1\n" * 30)
    out = run(policy, [mbpp_like()], [script], ChatFormat(max_thinking_tokens=6),
              max_new_tokens=100)
    assert out.ends == ["thinking_budget"] and int(out.response_mask[0].sum()) == 6
    assert out.answers[0].empty_reason == UNCLOSED_REASONING
    done = run(policy, [mbpp_like()], [ids_of(policy, "<think>a</think>\n" + GOOD)],
               ChatFormat(max_thinking_tokens=6), max_new_tokens=100)
    assert done.ends == ["fence_end"] and done.texts[0].startswith("def double")


def test_a_template_that_opens_the_reasoning_block_in_the_prompt(policy: Policy) -> None:
    """DeepSeek-R1's template ends the prompt with <think>: the reply starts inside it."""
    tok = policy.tokenizer
    template = tok.chat_template
    tok.chat_template = template.replace("assistant\n{% endif %}", "assistant\n<think>\n{% endif %}")
    try:
        rendered = ChatFormat().render(tok, mbpp_like())
        assert rendered.prompt.endswith("<think>\n") and rendered.reasoning_open == "<think>"
        code_in_thought = "```python\ndef double(x):\n    return 2 * x\n```\n"
        cut = run(policy, [mbpp_like()], [ids_of(policy, code_in_thought + "hmm " * 20)],
                  max_new_tokens=30)
        assert cut.ends == ["truncated"] and cut.texts == [""]  # still thinking: no answer
        assert cut.answers[0].empty_reason == UNCLOSED_REASONING
        done = run(policy, [mbpp_like()], [ids_of(policy, "ok</think>\n" + GOOD)])
        assert done.ends == ["fence_end"] and done.texts == ["def double(x):\n    return 2 * x\n"]
        start, end = done.answers[0].span
        assert done.replies[0][start:end] == done.texts[0]
    finally:
        tok.chat_template = template


# ---------------------------------------------------------------- training and evaluation


def test_training_rollout_scores_the_answer_with_unit_tests(policy: Policy) -> None:
    wrong = "```python\ndef double(x):\n    return x + 1\n```\n"
    body_only = "```python\n    return x * 2\n```\n"  # completes the stub's function
    other_language = "```javascript\nfunction double(x) { return 2 * x; }\n```\n"
    replies = [GOOD, wrong, body_only, other_language]
    workers = RewardWorkers(RewardConfig(use_ast=False, use_dfg=False, threads=1), workers=0)
    try:
        with forced(policy, [ids_of(policy, r) for r in replies]):
            batch = collect(policy, [humaneval_like()] * 4, workers, max_prompt_tokens=256,
                            max_new_tokens=120, temperature=0.0, chat=ChatFormat())
    finally:
        workers.close()
    assert [s.outcome for s in batch.scored] == ["passed", "failed", "passed", "compile_error"]
    # a block in another language is no end: that reply ran to its end of text
    assert batch.replies == replies and batch.ends == ["fence_end"] * 3 + ["eos"]
    # the score sits on the last kept token: the one that completed the closing fence
    lengths = batch.response_mask.sum(1).tolist()
    assert lengths == [len(ids_of(policy, r)) + (r == other_language) for r in replies]


def test_line_credit_maps_program_lines_into_the_reply(policy: Policy) -> None:
    from rewards import score
    reply = ("Sure.\n```python\ndef double(x):\n    y = x\n    return y * undefined_name\n```\n")
    workers = RewardWorkers(RewardConfig(use_ast=False, use_dfg=False, threads=1), workers=0)
    ex = humaneval_like()
    try:
        with forced(policy, [ids_of(policy, reply)]):
            batch = collect(policy, [ex], workers, max_prompt_tokens=256, max_new_tokens=120,
                            temperature=0.0, chat=ChatFormat())
    finally:
        workers.close()
    program = ex.code_prefix + batch.texts[0]
    assert score([__import__("rewards").Sample("python", program, tests=TESTS)])[0].error_lines \
        == batch.scored[0].error_lines == [5]  # the stub's 2 lines, then the answer's third
    lines = response_lines(policy.tokenizer, batch, [ex])[0]
    ids = batch.response_ids[0].tolist()
    tok = policy.tokenizer
    on_line = {n: tok.decode([i for i, line in zip(ids, lines.tolist()) if line == n])
               for n in set(lines.tolist())}
    assert set(on_line) == {0, 3, 4, 5}
    # a token belongs to the line its first character is on ("\n    " starts on the line it ends)
    assert on_line[3].startswith("def double(x):") and "y = x" in on_line[4]
    assert "return y * undefined_name" in on_line[5] and "undefined_name" not in on_line[4]
    assert "Sure." in on_line[0] and "def" not in on_line[0]  # prose, fences: sequence score only
    assert on_line[0].count("`") == 6


def test_evaluation_uses_the_same_chat_path(policy: Policy) -> None:
    workers = RewardWorkers(RewardConfig(use_ast=False, use_dfg=False, threads=1), workers=0)
    try:
        with forced(policy, [ids_of(policy, GOOD), ids_of(policy, "<think>" + "a " * 200)]):
            records = evaluate_policy(policy, [humaneval_like(), mbpp_like()], workers,
                                      max_prompt_tokens=256, max_new_tokens=120,
                                      rules=StopRules(), chat=ChatFormat(), with_kl=False)
    finally:
        workers.close()
    assert [r["outcome"] for r in records] == ["passed", "empty"]
    assert records[0]["reply"] == GOOD and records[0]["response"].startswith("def double")
    assert records[1]["response"] == "" and records[1]["end"] == "truncated"


def test_evaluate_cli_generate_mode_in_chat_format(policy: Policy, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer.evaluate import __main__ as evaluate_cli
    from trainer.evaluate import report

    data = tmp_path / "problems.jsonl"
    data.write_text(json.dumps({"id": "d", "prompt": "Write double(x).", "tests":
                                ["assert double(2) == 4"]}) + "\n")
    monkeypatch.setattr(evaluate_cli, "Policy", None, raising=False)
    loaded = []

    def load(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        loaded.append(args[0])
        return policy

    monkeypatch.setattr(Policy, "load", staticmethod(load))
    # the model is the forced tiny policy above: no folder or hub name to check first
    monkeypatch.setattr(report, "check_model_source", lambda name: None)
    out = tmp_path / "report.json"
    argv = ["--no-progress", "--model", "tiny", "--data.source", "jsonl", "--data.task",
            "synthesis", "--data.path", str(data), "--output", str(out),
            "--generation.max-new-tokens", "120"]
    with forced(policy, [ids_of(policy, GOOD)]):
        assert evaluate_cli.main([*argv, "--generation.prompt-format", "chat"]) == 0
    record = json.loads(out.with_suffix(".samples.jsonl").read_text())
    assert record["outcome"] == "passed" and record["reply"] == GOOD
    assert record["completion"] == "def double(x):\n    return 2 * x\n"
    with forced(policy, [ids_of(policy, GOOD)]):
        assert evaluate_cli.main([*argv, "--generation.prompt-format", "raw"]) == 0
    record = json.loads(out.with_suffix(".samples.jsonl").read_text())
    assert "reply" not in record and record["outcome"] != "passed"  # the fenced reply as code


def test_red_team_replies_that_try_to_pass_without_an_answer(policy: Policy) -> None:
    """Replies that try to score without a correct answer in the place the answer is read."""
    right = "```python\ndef double(x):\n    return 2 * x\n```\n"
    wrong = "```python\ndef double(x):\n    return x\n```\n"
    replies = [
        "<think>\n" + right + "</think>\nDone, see above.",  # the solution only in reasoning
        "```python\nimport sys\nsys.exit(0)\n```\n",  # leave before the tests run
        right + "Or shorter:\n" + wrong,  # the last block is the answer (no fence-end stop here)
        "```text\ndef double(x):\n    return 2 * x\n```\n" + wrong,  # the task's language wins
        "```python\n```\n",  # an empty block on the stub: nothing added
    ]
    workers = RewardWorkers(RewardConfig(use_ast=False, use_dfg=False, threads=1), workers=0)
    try:
        with forced(policy, [ids_of(policy, r) for r in replies]):
            batch = collect(policy, [humaneval_like()] * len(replies), workers,
                            max_prompt_tokens=256, max_new_tokens=120, temperature=0.0,
                            chat=ChatFormat(fence_end=False), rules=StopRules())
    finally:
        workers.close()
    outcomes = [s.outcome for s in batch.scored]
    assert "passed" not in outcomes, outcomes
    assert outcomes[2] == outcomes[3] == "failed" and outcomes[4] == "empty"


def test_help_and_presets_show_the_prompt_format(capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.config import parse_cli

    with pytest.raises(SystemExit):
        parse_cli(["--help"])
    shown = capsys.readouterr().out
    for flag in ("--generation.prompt-format", "--generation.system-prompt",
                 "--generation.chat-synthesis", "--generation.chat-translation",
                 "--generation.max-thinking-tokens", "fence-end"):
        assert flag in shown, flag
    for preset in ("paper-completion", "paper-synthesis", "paper-translation"):
        assert parse_cli(["--preset", preset]).generation.prompt_format == "raw"
    assert Config().generation.prompt_format == "auto"


def test_a_training_run_in_chat_format(tmp_path: Path) -> None:
    """`trainer.ppo.train` end to end on a chat model: auto picks chat for synthesis, the
    before/after evaluations and the training samples carry the replies, line credit runs."""
    from trainer.ppo import train

    model = build_tiny_model(tmp_path / "chat", "causal", vocab="chat")
    data = tmp_path / "problems.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Write f{i}(x).",
                                        "tests": [f"assert f{i}(1) == 1"]}) + "\n"
                            for i in range(6)))
    cfg = Config()
    cfg.model.name_or_path, cfg.model.lora = model, False
    cfg.data = DataConfig(task="synthesis", source="jsonl", path=str(data), eval_fraction=0.34)
    cfg.generation.max_new_tokens = 8
    cfg.reward.workers, cfg.reward.line_credit = 0, 0.1
    cfg.reward.use_ast = cfg.reward.use_dfg = False
    cfg.ppo.steps, cfg.ppo.prompts_per_step, cfg.ppo.minibatch_size = 1, 2, 2
    cfg.run.output_dir, cfg.run.progress, cfg.run.threads = str(tmp_path / "run"), False, 1
    cfg.run.tensorboard, cfg.run.plot = False, False
    train(cfg)
    evals = [json.loads(x) for x in (tmp_path / "run" / "eval_samples.jsonl").read_text().splitlines()]
    assert {r["step"] for r in evals} == {0, 1} and all(isinstance(r["reply"], str) for r in evals)
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert samples and all("reply" in r for r in samples)
    metrics = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert "eval/end/fence_end" in metrics[0] and "end/thinking_budget" in metrics[-1]
