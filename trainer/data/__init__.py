"""Data for the PPO trainer: what the policy is asked to write, and how it is judged.

Three tasks (``DataConfig.task``):

* ``completion``: the model sees the start of a function and writes the rest. The
  scored program is ``code_prefix + response``; the reference is the whole function
  (AST / data-flow match) and execution feedback is "does it compile".
* ``translation``: the model sees a program in a source language (inside a prompt
  template) and writes it in the target language; the reference is the known
  translation.
* ``synthesis``: the model sees a problem statement and writes a program that is run
  against unit tests (``TaskExample.tests``); a reference solution is optional.

Sources (``DataConfig.source``):

* ``stdlib`` (default, completion only): built at run time, with no download, from the
  functions of the local Python standard library, CodeSearchNet-style. Files are read
  in sorted order of their path relative to the stdlib root, permuted by ``seed``; a
  file contributes at most ``max_per_file`` functions of ``min_lines``..``max_lines``
  lines (methods are dedented; decorators are not included; exact duplicates are
  kept once; test, encodings and site-packages folders are skipped). The prompt is the
  function minus its last ``completion_holdout`` tokens (tree-sitter leaves, a string
  literal counting as one, comments not counted; or lines, see ``completion_unit``); trailing spaces are left to
  the response. Functions too short to keep at least as many tokens as are held out
  are skipped.
* ``jsonl``: one JSON object per line in ``path`` (eval examples from ``eval_path``,
  or carved from ``path`` by ``eval_fraction``).
* ``hf``: a Hugging Face dataset: a hub name (needs network), a folder written by
  ``Dataset.save_to_disk``, or a local .json/.jsonl/.csv/.parquet file; needs
  ``pip install datasets``.
* ``humaneval``, ``mbpp``, ``apps``, ``codesearchnet``, ``xlcost``: the paper's benchmarks in
  their published formats, each with its own task (see `trainer.data.benchmarks`).

Field mapping for jsonl/hf records (every name is a ``DataConfig`` field, so
``--data.code-field func_code_string`` adapts CodeSearchNet, for example):

==============  =================================  =====================================
task            required fields                    optional fields
==============  =================================  =====================================
completion      ``code_field`` (whole function)    ``language_field``, ``id_field``
translation     ``source_field``,                  ``source_language_field``,
                ``reference_field`` (target code)  ``language_field``, ``id_field``
synthesis       ``prompt_field``                   ``reference_field``, ``tests_field``,
                                                   ``language_field``, ``id_field``
==============  =================================  =====================================

Unit tests (``tests_field``) are read by `rewards.TestSpec.parse`: test code (a string;
HumanEval's ``test``, run as ``check(<entry_point>)`` with the function named by
``entry_point_field``), a list of assert statements (MBPP's ``test_list``),
``{"inputs": [...], "outputs": [...]}`` as an object or JSON string (APPS'
``input_output``: stdin/stdout cases, or call-based tests with its ``fn_name``), a list of
``[stdin, expected stdout]`` pairs, or an object with the fields of `rewards.TestSpec`.
Examples: HumanEval = ``--data.task synthesis
--data.id-field task_id --data.reference-field canonical_solution --data.tests-field
test --data.prompt-is-code``; MBPP = ``--data.prompt-field text --data.reference-field
code --data.tests-field test_list``; APPS = ``--data.prompt-field question
--data.tests-field input_output`` (its ``solutions`` is a JSON list, not one program).

A missing language field falls back to ``language`` (``source_language`` for the
source side of translation). HumanEval-style synthesis, where the prompt is the start
of the program: ``--data.prompt-is-code`` (the prompt then becomes ``code_prefix`` and
is prepended to the reference solution unless it already starts with it).

Train/eval split: when no separate eval data is given, every example gets a key
``sha256(f"{seed}:{id}")`` and the ``round(n * eval_fraction)`` smallest keys form the
eval set (at least one when the fraction is positive and n >= 2). The split depends
only on the ids, the seed and the fraction, never on file-system order; both lists keep
the data's order.

Modules: `load` (`load_task`: the reader of the source, ``max_examples``, the split),
`example` (`TaskExample`, `make_samples`), `records` (JSONL and Hugging Face records),
`stdlib`, `completion` (the completion cut) and `benchmarks` (the published formats).
"""

from trainer.data.benchmarks import (
    DEFAULT_EVAL_TIMEOUT_S,
    EVAL_TIMEOUT_S,
    apps_prompt,
    eval_timeout_s,
    mbpp_prompt,
)
from trainer.data.completion import count_tokens, split_completion
from trainer.data.example import (
    Example,
    TaskExample,
    detokenize_xlcost,
    make_samples,
    response_code,
    translation_example,
)
from trainer.data.load import load_task, split_train_eval
from trainer.data.records import load_hub_split, read_jsonl_records

__all__ = ["DEFAULT_EVAL_TIMEOUT_S", "EVAL_TIMEOUT_S", "Example", "TaskExample", "apps_prompt", "count_tokens",
           "detokenize_xlcost", "eval_timeout_s", "load_hub_split", "load_task", "make_samples",
           "mbpp_prompt", "read_jsonl_records", "response_code", "split_completion",
           "split_train_eval", "translation_example"]
