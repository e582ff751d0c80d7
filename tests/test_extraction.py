"""The one answer-extraction policy (`rewards.extraction`)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.extraction import SPECIAL_TOKENS, Answer, AnswerPolicy, extract_answer

FENCE = "```"


@pytest.mark.parametrize(
    ("response", "language", "code", "tag"),
    [
        ("x = 1\n<|im_end|>", None, "x = 1\n", None),
        ("x = 1\n</s>", None, "x = 1\n", None),
        ("x = 1\n<|endoftext|><|endoftext|>", None, "x = 1\n", None),
        ("<|im_start|>x = 1\n<|im_end|>\n<|im_start|>user\nmore", None, "x = 1\n", None),
        ("```java\nclass A {}\n```", None, "class A {}\n", "java"),
        ("```c++\nint x;\n```", None, "int x;\n", "cpp"),
        ("```text\nx = 1\n```", None, "x = 1\n", None),  # not a language
        ("```py\nx = 1\n<|im_end|>", None, "x = 1\n", "python"),  # truncated: runs to the end
        ("no fences", "python", "no fences", None),
        ("", "python", "", None),
        # the last block wins: a draft, then the final answer
        ("Draft:\n```python\nx = 0\n```\nFinal:\n```python\nx = 1\n```\n", "python", "x = 1\n", "python"),
        # the task's language wins over a later block in another language
        ("```python\nx = 1\n```\n```cpp\nint y;\n```", "python", "x = 1\n", "python"),
        # a later output block does not displace the code
        ("```python\nprint(3)\n```\nOutput:\n```text\n3\n```", None, "print(3)\n", "python"),
        ("```\nx = 1\n```\n```output\n3\n```", "python", "x = 1\n", None),
        # a fence in another language is still the answer (scored in the task's language)
        ("```php\n<?php echo 1;\n```", "python", "<?php echo 1;\n", "php"),
        # a fence opener in the middle of a line is no fence; a closer must be a line
        ("Use ```x``` like this", None, "Use ```x``` like this", None),
        ("```python\ns = '```'\nt = 2\n```", "python", "s = '```'\nt = 2\n", "python"),
        # tildes and longer fences
        ("~~~python\nx = 1\n~~~", None, "x = 1\n", "python"),
        ("````python\n```\nx\n````", None, "```\nx\n", "python"),
        # an opening fence left bare at the end is no block
        ("```python\nx = 1\n```\n```", "python", "x = 1\n", "python"),
    ],
)
def test_extract_answer(response, language, code, tag):
    answer = extract_answer(response, language)
    assert (answer.code, answer.fence_language, answer.empty_reason) == (code, tag, None)


def test_reasoning_blocks_are_removed_with_their_drafts():
    text = "<think>try\n```python\nx = 0\n```\n</think>\nHere:\n```python\nx = 1\n```"
    assert extract_answer(text, "python").code == "x = 1\n"
    # only the draft is fenced: the answer is the text after the reasoning
    assert extract_answer("<think>```python\nx = 0\n```</think>x = 2", "python").code == "x = 2"


def test_a_closing_tag_alone_ends_reasoning_begun_in_the_prompt():
    assert extract_answer("I think\n```python\nx = 0\n```\n</think>\n```python\nx = 1\n```").code == "x = 1\n"


def test_an_unclosed_reasoning_block_is_no_answer():
    answer = extract_answer("<think>draft\n```python\ndef f(): return 1\n```", "python")
    assert answer == Answer("", None, "unclosed reasoning block", None)
    # a second, unclosed block after a closed one: also cut while thinking
    assert extract_answer("<think>a</think>x = 1\n<think>more", "python").empty_reason


def test_reasoning_tags_are_configurable():
    policy = AnswerPolicy(reasoning_tags=(("<reasoning>", "</reasoning>"),))
    assert extract_answer("<reasoning>x = 0</reasoning>x = 1", "python", policy).code == "x = 1"
    assert extract_answer("<think>x = 0</think>x = 1", "python", policy).code == "<think>x = 0</think>x = 1"
    assert extract_answer("<think>x</think>y", None, AnswerPolicy(reasoning_tags=())).code == "<think>x</think>y"


def test_block_first_and_none():
    text = "```python\nx = 0\n```\n```python\nx = 1\n```"
    assert extract_answer(text, "python", AnswerPolicy(block="first")).code == "x = 0\n"
    assert extract_answer(text, "python", AnswerPolicy(block="none")).code == text
    # none still removes special tokens and reasoning
    assert extract_answer("<think>a</think>x = 1<|im_end|>b", None, AnswerPolicy(block="none")).code == "x = 1"


def test_special_tokens_are_configurable():
    assert extract_answer("x = 1\n<|im_end|>", None, AnswerPolicy(special_tokens=())).code == "x = 1\n<|im_end|>"
    assert extract_answer("x = 1\n[END] junk", None, AnswerPolicy(special_tokens=("[END]",))).code == "x = 1\n"
    assert "<|im_end|>" in SPECIAL_TOKENS


def test_bad_policy_and_language_are_clear_errors():
    with pytest.raises(ValueError, match="block"):
        AnswerPolicy(block="middle")
    with pytest.raises(ValueError, match="reasoning_tags"):
        AnswerPolicy(reasoning_tags=(("<think>", ""),))
    with pytest.raises(ValueError, match="cobol"):
        extract_answer("x", "cobol")


def test_span_locates_the_code_in_the_original_text():
    text = "<|im_start|><think>```python\nx = 0\n```</think>Answer:\n```python\nx = 1\n```\n<|im_end|>pad"
    answer = extract_answer(text, "python")
    start, end = answer.span
    assert text[start:end] == answer.code == "x = 1\n"


def test_span_is_none_when_the_code_is_not_one_piece_of_the_text():
    answer = extract_answer("x = <think>hmm</think>1", "python", AnswerPolicy(block="none"))
    assert answer.code == "x = 1" and answer.span is None


_pieces = st.sampled_from(["```", "```python\n", "```cpp\n", "~~~\n", "\n", "<think>", "</think>",
                           "<|im_end|>", "</s>", "x = 1", " ", "`", "py", "\t"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=25).map("".join), st.sampled_from([None, "python", "cpp"]),
       st.sampled_from(["first", "last", "none"]))
def test_any_text_gives_an_answer_whose_span_is_honest(text, language, block):
    answer = extract_answer(text, language, AnswerPolicy(block=block))
    assert isinstance(answer.code, str)
    if answer.empty_reason:
        assert answer.code == ""
    if answer.span is not None:
        assert text[answer.span[0]:answer.span[1]] == answer.code


def test_a_megabyte_response_is_read_in_linear_time():
    import time
    text = "```python\n" * 20000 + "x\n" * 200000 + "<think>" * 10000 + "</think>"
    start = time.perf_counter()
    extract_answer(text, "python")
    assert time.perf_counter() - start < 5
