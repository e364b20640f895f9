"""zip2zip on tiny in-process models: encoders, the wrapper's masks, the K=0 control, scoring, generation, save/load."""

from __future__ import annotations

import json

import pytest
import torch

from retok import RetokError, bits_per_byte
from retok.adaptive.lzw import Codebook, LZWConfig, decode, encode
from retok.testing import ENGLISH, tiny_llama, tiny_tokenizer

from hypernet.zip2zip.generate import generate
from hypernet.zip2zip.hyper_encoder import EncoderArch, HyperEncoder
from hypernet.zip2zip.model import Zip2ZipLM
from hypernet.zip2zip.config import Zip2ZipTrainConfig
from hypernet.zip2zip.data import collate, compress_window
from hypernet.zip2zip.eval import compressed_bits_per_byte
from hypernet.zip2zip.train import train, wrap


from zip2zip_tiny import REPETITIVE, TINY


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def tiny_wrapper(tokenizer, *, tie=True, codebook=64, seed=0, scramble=True) -> Zip2ZipLM:
    torch.manual_seed(seed)
    net = wrap(tiny_llama(len(tokenizer), tie=tie, seed=seed), tokenizer,
               Zip2ZipTrainConfig(**{**TINY.__dict__, "max_codebook_size": codebook}))
    if scramble:  # give the zero-initialised corrections some weight so the tests see the encoders
        with torch.no_grad():
            for encoder in {net.input_encoder, net.output_encoder}:
                encoder.out.weight.normal_(std=0.5)
    return net.eval()


def text_ids(tokenizer, text=REPETITIVE) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


# --------------------------------------------------------------------------- hyper-encoders


def test_an_untrained_encoder_returns_the_first_tokens_row_exactly():
    table = torch.randn(50, 24)
    encoder = HyperEncoder(EncoderArch(dim=24, max_subtokens=4, hidden=16, heads=2))
    entries = torch.tensor([[3, 7, -1, -1], [9, 9, 9, 2], [5, -1, -1, -1]])
    assert torch.equal(encoder(table, entries), table[entries[:, 0]])


def test_an_untrained_encoder_returns_its_residual_row_exactly():
    table = torch.randn(50, 24)
    entries = torch.tensor([[3, 7, -1, -1], [9, 8, 6, 2], [5, 1, 4, -1]])
    last = HyperEncoder(EncoderArch(dim=24, max_subtokens=4, hidden=16, heads=2, residual="last"))
    assert torch.equal(last(table, entries), table[torch.tensor([7, 2, 4])])
    mean = HyperEncoder(EncoderArch(dim=24, max_subtokens=4, hidden=16, heads=2, residual="mean"))
    assert torch.allclose(mean(table, entries[:1]), table[[3, 7]].mean(0, keepdim=True))


def test_the_wrapper_defaults_to_last_token_input_rows_and_first_token_output_rows(tokenizer):
    net = tiny_wrapper(tokenizer, scramble=False)
    entries = torch.tensor([[[4, 9, 11], [6, 2, -1]]])
    rows_in, rows_out = net.hyper_rows(entries)
    e_in, e_out = net.tables()
    assert torch.equal(rows_in[0], e_in[[11, 2]]) and torch.equal(rows_out[0], e_out[[4, 6]])


def test_the_zero_initialised_correction_still_gets_a_gradient():
    table = torch.randn(50, 24)
    encoder = HyperEncoder(EncoderArch(dim=24, max_subtokens=4, hidden=16, heads=2))
    encoder(table, torch.tensor([[3, 7, 1, -1]])).pow(2).sum().backward()
    assert encoder.out.weight.grad.abs().sum() > 0  # so one step moves the encoder off "first token"


def test_pooling_ignores_pad_positions_and_order_matters():
    table = torch.randn(50, 24)
    encoder = HyperEncoder(EncoderArch(dim=24, max_subtokens=4, hidden=16, heads=2))
    torch.nn.init.normal_(encoder.out.weight)
    entry = torch.tensor([[3, 7, -1, -1]])
    before = encoder(table, entry)
    changed = table.clone()
    changed[0] += 100.0  # pads read row 0: changing it must not matter
    assert torch.allclose(encoder(changed, entry), before)
    swapped = encoder(table, torch.tensor([[3, 7, -1, -1], [7, 3, -1, -1]]))
    assert not torch.allclose(swapped[0] - table[3], swapped[1] - table[7])  # positions make [a, b] and [b, a] differ


def test_an_empty_slot_gives_a_zero_row():
    encoder = HyperEncoder(EncoderArch(dim=8, max_subtokens=3, hidden=8, heads=2))
    assert torch.equal(encoder(torch.randn(20, 8), torch.full((2, 3), -1)), torch.zeros(2, 8))


# --------------------------------------------------------------------------- the wrapper


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_codebook_size_zero_is_the_plain_causal_lm(tokenizer, tie):
    net = tiny_wrapper(tokenizer, tie=tie, codebook=0)
    ids = torch.tensor([text_ids(tokenizer)[:40]])
    window = compress_window(ids[0].tolist(), net.lzw)
    assert window.inputs == ids[0].tolist()  # K=0: codes are the ids
    out = net(**collate([window], net.lzw.max_subtokens))
    plain = net.model(input_ids=ids, labels=ids)
    assert torch.equal(out.logits, plain.logits)
    assert torch.equal(out.loss, plain.loss)


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_slots_are_minus_infinity_until_the_decoder_installs_them(tokenizer, tie):
    net = tiny_wrapper(tokenizer, tie=tie)
    window = compress_window(text_ids(tokenizer)[:60], net.lzw)
    batch = collate([window], net.lzw.max_subtokens)
    logits = net(**batch).logits[0]  # (T, V0 + K')
    v0, hyper = net.base_vocab_size, logits[:, net.base_vocab_size :]
    for t in range(hyper.shape[0]):
        for k in range(hyper.shape[1]):
            installed = k < len(window.available) and window.available[k] <= t
            pending = int(batch["pending_slot"][0, t]) == k
            assert torch.isfinite(hyper[t, k]) == (installed or pending), (t, k)
    assert torch.isfinite(logits[:, :v0]).all()


def test_every_code_of_a_repetitive_text_is_scorable(tokenizer):
    net = tiny_wrapper(tokenizer)
    config = LZWConfig(initial_vocab_size=net.base_vocab_size, max_codebook_size=64, max_subtokens=3)
    a = text_ids(tokenizer, "aaaa")[0]
    window = compress_window([a] * 30, config, prefix=0)  # "aaaa...": the LZW cScSc case again and again
    assert any(p is not None for p in window.pending)
    out = net(**collate([window], 3))
    assert torch.isfinite(out.loss) and out.n_targets == len(window.labels)


def test_a_pad_equal_to_eos_keeps_real_eos_in_the_loss(tokenizer):
    net = tiny_wrapper(tokenizer)
    eos = tokenizer.eos_token_id
    assert tokenizer.pad_token_id == eos  # the fixture's layout, like many chat models
    short = compress_window(text_ids(tokenizer)[:10] + [eos], net.lzw)
    long = compress_window(text_ids(tokenizer)[:30], net.lzw)
    batch = collate([short, long], net.lzw.max_subtokens)
    assert batch["attention_mask"][0].sum() == short.length  # from the lengths, not from id != pad
    assert batch["labels"][0, short.length - 2] == eos  # the real EOS is a target (the last position predicts nothing)


def test_scoring_with_codebook_zero_equals_bits_per_byte(tokenizer):
    net = tiny_wrapper(tokenizer, codebook=0)
    ours = compressed_bits_per_byte(net, tokenizer, REPETITIVE, window=32, progress=False)
    plain = bits_per_byte(net.model, tokenizer, REPETITIVE, window=32, progress=False)
    assert ours.bpb == pytest.approx(plain.bpb, rel=1e-6)
    assert ours.n_codes == plain.n_tokens and ours.compression_ratio == 1.0


def test_scoring_compresses_and_scores_every_byte_once(tokenizer):
    net = tiny_wrapper(tokenizer)
    result = compressed_bits_per_byte(net, tokenizer, REPETITIVE, window=512, progress=False)
    ids = text_ids(tokenizer)
    expected = sum(len(encode(ids[i : i + 512], net.lzw)) for i in range(0, len(ids), 512))
    assert result.n_codes == expected < len(ids) and result.n_base_tokens == len(ids)
    assert result.compression_ratio > 1.1 and result.bpb > 0


# --------------------------------------------------------------------------- generation


def test_generation_with_and_without_the_cache_makes_the_same_codes(tokenizer):
    net = tiny_wrapper(tokenizer)
    with_cache = generate(net, tokenizer, ENGLISH[0] + " " + ENGLISH[0], max_new_tokens=30)
    without = generate(net, tokenizer, ENGLISH[0] + " " + ENGLISH[0], max_new_tokens=30, use_cache=False)
    assert with_cache.codes == without.codes and with_cache.base_ids == without.base_ids


def test_the_online_codebook_is_the_decoders_codebook_of_the_whole_stream(tokenizer):
    net = tiny_wrapper(tokenizer)
    prompt = ENGLISH[1] + " " + ENGLISH[1]
    result = generate(net, tokenizer, prompt, max_new_tokens=40, use_cache=False)
    prompt_ids = [tokenizer.convert_tokens_to_ids("<|endoftext|>")] + text_ids(tokenizer, prompt)
    stream = encode(prompt_ids, net.lzw) + result.codes
    assert decode(stream, net.lzw) == prompt_ids + result.base_ids
    replayed = Codebook(net.lzw)
    replayed.extend(stream)
    online = Codebook(net.lzw)
    online.extend(encode(prompt_ids, net.lzw))
    for code in result.codes:
        online.feed(code)
    assert online.entries == replayed.entries


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_online_rows_are_the_encoders_rows_with_one_output_call_per_code_and_input_rows_on_demand(tokenizer, tie):
    from hypernet.zip2zip.generate import OnlineRows
    from retok.vocab.pieces import pad_pieces

    net = tiny_wrapper(tokenizer, tie=tie)
    a = text_ids(tokenizer, "aaaa")[0]
    codes = encode(text_ids(tokenizer)[:40] + [a] * 12, net.lzw)  # ends in LZW's cScSc case, so a pending entry is scored
    online = OnlineRows(net)
    pendings = 0
    with torch.no_grad():
        for code in codes:
            online.feed([code])
            h = torch.randn(net.arch.dim)
            entry = online.codebook.pending()
            got = online.pending_logit(h)
            assert (got is None) == (entry is None)
            if entry is not None:
                pendings += 1
                table = torch.tensor([[list(entry)]])
                want = (h * net.output_encoder(net.tables()[1], table)[0, 0]).sum() + net.output_bias(table)[0, 0]
                torch.testing.assert_close(got, want.view(1))
        entries = pad_pieces(online.codebook.entries).unsqueeze(0)
        rows_in, rows_out = net.hyper_rows(entries)
        calls = online.encoder_calls  # one output-encoder call per code at most, no input-encoder call yet
        torch.testing.assert_close(online.rows_for(), rows_in)  # the input rows made on demand, in one call
        torch.testing.assert_close(online.output, rows_out)
        torch.testing.assert_close(online.bias, net.output_bias(entries))
    assert pendings > 0 and calls <= len(codes) and online.encoder_calls == calls + 1


def test_generation_past_the_codebooks_capacity_goes_on(tokenizer):
    net = tiny_wrapper(tokenizer, codebook=3)
    result = generate(net, tokenizer, REPETITIVE[:200], max_new_tokens=40)
    assert len(result.base_ids) >= 40
    assert all(c < net.base_vocab_size + 3 for c in result.codes)


def test_streamed_text_is_the_generated_text(tokenizer):
    net = tiny_wrapper(tokenizer)
    pieces: list[str] = []
    result = generate(net, tokenizer, ENGLISH[2], max_new_tokens=20, on_text=pieces.append)
    assert "".join(pieces) == result.text == tokenizer.decode(result.base_ids)


# --------------------------------------------------------------------------- training, save and load


@pytest.fixture
def base_dir(tmp_path, tokenizer):
    path = tmp_path / "base"
    tiny_llama(len(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_training_lowers_the_loss_and_the_folder_loads_into_the_wrapper(tmp_path, base_dir, tokenizer):
    result = train(base_dir, ENGLISH * 8, tmp_path / "z", TINY, eval_text=REPETITIVE, progress=False, log=lambda _: None)
    bpbs = [h["bpb"] for h in result.history if "bpb" in h]
    assert bpbs[-1] < bpbs[0]
    loaded = Zip2ZipLM.from_pretrained(result.out)
    again = compressed_bits_per_byte(loaded, tokenizer, REPETITIVE[: 16384], window=TINY.window, progress=False)
    assert again.bpb == pytest.approx(bpbs[-1], rel=1e-4)  # merged + saved == the trained wrapper
    assert not torch.equal(loaded.input_encoder.out.weight, torch.zeros_like(loaded.input_encoder.out.weight))


def test_codebook_size_zero_trains_exactly_plain_lora(tmp_path, base_dir):
    from safetensors.torch import load_file

    from retok.training.finetune import FinetuneConfig, finetune

    control = Zip2ZipTrainConfig(**{**TINY.__dict__, "max_codebook_size": 0})
    ours = train(base_dir, ENGLISH * 8, tmp_path / "z0", control, progress=False, log=lambda _: None)
    plain = finetune(base_dir, ENGLISH * 8, tmp_path / "lora",
                     FinetuneConfig(train_bytes=None, seq_len=control.window, batch_size=control.batch_size, embeddings="none",
                                    lr=control.lr, warmup_steps=0, eval_every=0, checkpoint_every=0),
                     progress=False, log=lambda _: None)
    a, b = load_file(ours.out / "model.safetensors"), load_file(plain.out / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize("stop", [2, 5], ids=["in-the-warm-start", "in-the-lora-stage"])
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, base_dir, stop):
    from safetensors.torch import load_file

    config = Zip2ZipTrainConfig(**{**TINY.__dict__, "checkpoint_every": 1})
    whole = train(base_dir, ENGLISH * 8, tmp_path / "whole", config, progress=False, log=lambda _: None)
    stopped = train(base_dir, ENGLISH * 8, tmp_path / "split", config, progress=False, log=lambda _: None, stop_after=stop)
    assert not stopped.finished
    resumed = train(base_dir, ENGLISH * 8, tmp_path / "split", config, progress=False, log=lambda _: None)
    for file in ("model.safetensors", "zip2zip_encoders.safetensors"):
        a, b = load_file(whole.out / file), load_file(resumed.out / file)
        assert all(torch.equal(a[k], b[k]) for k in a), file


def test_encoders_refuse_another_base_model(tmp_path, base_dir, tokenizer):
    result = train(base_dir, ENGLISH * 8, tmp_path / "z", TINY, progress=False, log=lambda _: None)
    other = tiny_llama(len(tokenizer), seed=1)
    with pytest.raises(RetokError, match="trained for"):
        Zip2ZipLM.from_pretrained(result.out, model=other)


def test_a_plain_model_folder_is_not_a_zip2zip_folder(base_dir):
    with pytest.raises(RetokError, match="not a zip2zip model folder"):
        Zip2ZipLM.from_pretrained(base_dir)


def test_a_codebook_for_another_vocabulary_is_refused(tokenizer):
    lzw = LZWConfig(initial_vocab_size=len(tokenizer) + 5, max_codebook_size=8, max_subtokens=3)
    with pytest.raises(RetokError, match="embedding rows"):
        Zip2ZipLM(tiny_llama(len(tokenizer)), lzw, EncoderArch(dim=32, max_subtokens=3, hidden=16, heads=2))


# --------------------------------------------------------------------------- command line


def test_cli_trains_scores_generates_and_counts(tmp_path, base_dir, capsys):
    from retok.cli import main

    train_file = tmp_path / "train.txt"
    train_file.write_text("\n".join(ENGLISH * 8) + "\n", encoding="utf-8")
    held = tmp_path / "held.txt"
    held.write_text(REPETITIVE, encoding="utf-8")
    out = tmp_path / "z"
    assert main(["zip2zip", "train", "--model", str(base_dir), "--train", str(train_file), "--out", str(out), "--window", "48",
                 "--max-codebook-size", "64", "--max-subtokens", "3", "--encoder-hidden", "16", "--encoder-heads", "2",
                 "--encoder-layers", "1", "--checkpoint-every", "0"]) == 0
    capsys.readouterr()
    assert main(["zip2zip", "eval", "--model", str(out), "--text", str(held), "--window", "64", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["bpb"] > 0 and scored["compression_ratio"] > 1.0 and scored["n_bytes"] == len(REPETITIVE.encode())
    assert main(["zip2zip", "generate", "--model", str(out), "--prompt", ENGLISH[0], "--max-new-tokens", "12"]) == 0
    streamed = capsys.readouterr()
    assert "base tokens in" in streamed.err and streamed.out.strip()


def test_cli_stats_reports_the_ratio_per_window(tmp_path, base_dir, capsys):
    from retok.cli import main

    held = tmp_path / "held.txt"
    held.write_text(REPETITIVE, encoding="utf-8")
    assert main(["zip2zip", "stats", "--model", str(base_dir), "--text", str(held), "--window", "256", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["windows"] == len(stats["per_window"]) and stats["compression_ratio"] > 1.0
    assert sum(r["base_tokens"] for r in stats["per_window"]) == stats["base_tokens"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "--model", "BASE", "--text", "HELD", "--max-subtokens", "1"], "--max-subtokens: must be >= 2"),
        (["stats", "--model", "BASE", "--text", "HELD", "--codebook-size", "100000000"], "--codebook-size: must be"),
        (["train", "--model", "BASE", "--train", "HELD", "--out", "O", "--max-subtokens", "1"], "max_subtokens"),
        (["train", "--model", "BASE", "--train", "HELD", "--out", "BASE"], "already exists"),
        (["eval", "--model", "BASE", "--text", "HELD"], "not a zip2zip model folder"),
        (["generate", "--model", "BASE", "--prompt", "x"], "not a zip2zip model folder"),
        (["eval", "--model", "BASE", "--text", "/no/such/file.txt"], "does not exist"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(argv, message, tmp_path, base_dir, capsys, monkeypatch):
    from retok.cli import main

    monkeypatch.chdir(tmp_path)
    held = tmp_path / "held.txt"
    held.write_text(REPETITIVE, encoding="utf-8")
    argv = [str(base_dir) if a == "BASE" else str(held) if a == "HELD" else a for a in argv]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["zip2zip", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_empty_prompt_generates_from_the_document_separator(tokenizer):
    net = tiny_wrapper(tokenizer)
    result = generate(net, tokenizer, "", max_new_tokens=10)
    assert result.prompt_base_tokens == 1 and len(result.base_ids) >= 10


def test_damaged_encoders_are_named_in_one_line(tmp_path, tokenizer, capsys):
    from retok.cli import main

    folder = tiny_wrapper(tokenizer).save_pretrained(tmp_path / "z", tokenizer)
    data = (folder / "zip2zip_encoders.safetensors").read_bytes()
    (folder / "zip2zip_encoders.safetensors").write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    assert main(["zip2zip", "generate", "--model", str(folder), "--prompt", "x", "--max-new-tokens", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "zip2zip_encoders.safetensors is damaged (truncated" in err[0], err


# --------------------------------------------------------------------------- ablation options: positions and the legacy mask


def test_base_positions_put_each_code_at_its_last_base_token(tokenizer):
    net = tiny_wrapper(tokenizer)
    net.positions = "base"
    ids = text_ids(tokenizer)[:80]
    window = compress_window(ids, net.lzw)
    batch = collate([window], net.lzw.max_subtokens)
    got = net.position_ids(batch["codes"], batch["entries"])[0].tolist()
    lengths = [len(Codebook(net.lzw).subtokens(c)) if c < net.base_vocab_size else len(window.entries[c - net.base_vocab_size])
               for c in window.inputs]
    assert got == [sum(lengths[: t + 1]) - 1 for t in range(len(lengths))] and got[-1] == len(ids) - 1


def test_base_positions_never_cut_attention_at_a_hypertoken(tokenizer):
    # HF reads a jump in position_ids, without a mask or a cache, as the start of another packed sequence and masks
    # attention across it; every hypertoken is such a jump, so the body must see the same with and without a cache
    net = tiny_wrapper(tokenizer)
    net.positions = "base"
    batch = collate([compress_window(text_ids(tokenizer)[:120], net.lzw)], net.lzw.max_subtokens)
    positions = net.position_ids(batch["codes"], batch["entries"])
    assert bool((positions.diff(dim=1) > 1).any())
    embeds = net.embed(batch["codes"], net.hyper_rows(batch["entries"])[0])
    cached = net.hidden(embeds, position_ids=positions, use_cache=True).last_hidden_state
    uncached = net.hidden(embeds, position_ids=positions, use_cache=False).last_hidden_state
    torch.testing.assert_close(uncached, cached)


def test_base_positions_change_nothing_on_a_sequence_of_base_ids(tokenizer):
    net = tiny_wrapper(tokenizer)
    codes = torch.tensor([text_ids(tokenizer, ENGLISH[0])])
    plain = net(codes=codes).logits
    net.positions = "base"
    torch.testing.assert_close(net(codes=codes).logits, plain)


def test_generation_under_base_positions_is_the_same_with_and_without_the_cache(tokenizer):
    net = tiny_wrapper(tokenizer)
    net.positions = "base"
    prompt = REPETITIVE[:120]
    with_cache = generate(net, tokenizer, prompt, max_new_tokens=30)
    without = generate(net, tokenizer, prompt, max_new_tokens=30, use_cache=False)
    assert with_cache.codes == without.codes and with_cache.prompt_codes < with_cache.prompt_base_tokens  # hypertokens move positions


def test_the_legacy_mask_shows_slot_k_from_position_k_and_never_hides_an_installed_slot(tokenizer):
    net = tiny_wrapper(tokenizer)
    window = compress_window(text_ids(tokenizer)[:120], net.lzw)
    online = collate([window], net.lzw.max_subtokens)["available"][0]
    legacy = collate([window], net.lzw.max_subtokens, legacy_mask=True)["available"][0]
    used = len(window.available)
    assert torch.equal(legacy[:used], torch.minimum(online[:used], torch.arange(used)))
    assert bool((legacy[:used] < online[:used]).any())  # it shows some slots before the decoder installs them


def test_positions_are_saved_with_the_encoders(tmp_path, base_dir):
    config = Zip2ZipTrainConfig(**{**TINY.__dict__, "positions": "base", "warm_steps": 0})
    result = train(base_dir, ENGLISH * 2, tmp_path / "z", config, progress=False, log=lambda _: None)
    assert Zip2ZipLM.from_pretrained(result.out).positions == "base"


@pytest.mark.parametrize("positions", ["codes", "base"])
def test_a_batch_of_prompts_makes_the_codes_each_prompt_makes_alone(tokenizer, positions):
    from hypernet.zip2zip.batch_generate import generate_batch

    net = tiny_wrapper(tokenizer)
    net.positions = positions
    prompts = [REPETITIVE[:150], ENGLISH[0], ENGLISH[2] + " " + ENGLISH[2]]  # different lengths: left padding
    together = generate_batch(net, tokenizer, prompts, max_new_tokens=24, stop_at_eos=False)
    alone = [generate(net, tokenizer, p, max_new_tokens=24, stop_at_eos=False) for p in prompts]
    assert [g.codes for g in together] == [g.codes for g in alone]
    assert [g.text for g in together] == [g.text for g in alone] and sum(g.n_hyper for g in together) > 0


def test_a_batch_needs_a_list_of_prompts(tokenizer):
    from hypernet.zip2zip.batch_generate import generate_batch

    with pytest.raises(RetokError, match="non-empty list of prompts"):
        generate_batch(tiny_wrapper(tokenizer), tokenizer, "one prompt")
