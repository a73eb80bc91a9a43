#!/usr/bin/env python3
"""Golden files for the model tests, from transformers / torch on the CPU.

Run from the repository root:  python3 tests/golden/gen_model_goldens.py

A. forward_minilm.{safetensors,json}: all-MiniLM-L6-v2 forward on one padded
   batch of mixed single sentences and pairs, with a seeded 2-label head.
B. tiny_bert/, tiny_bert_stsb/: tiny random BERT checkpoints (HF layout).
C. grad_*.safetensors: loss, logits and every parameter gradient on tiny_bert
   for each attention map (float32, some float64).
D. sgd_data/SST-2/, sgd_step_*.safetensors, sgd_dev_logits.safetensors: one
   plain SGD step on a GLUE-layout folder, for end-to-end CLI tests.

The attention maps follow docs/attention-math.md (see attn_ref.py, whose
reference maps are first checked against every test vector of the doc).
Everything is seeded; torch runs on one thread so reruns give the same bytes.
"""

import json
import os
import sys

import numpy as np
import safetensors
import safetensors.numpy
import torch
import torch.nn.functional as F
import transformers
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attn_ref  # noqa: E402

GOLDEN = "tests/golden"
MINILM = "models/all-MiniLM-L6-v2"
TINY = f"{GOLDEN}/tiny_bert"
TINY_STSB = f"{GOLDEN}/tiny_bert_stsb"
SGD_DATA = f"{GOLDEN}/sgd_data/SST-2"

VERSIONS = {
    "torch": torch.__version__,
    "transformers": transformers.__version__,
    "safetensors": safetensors.__version__,
    "numpy": np.__version__,
    "python": sys.version.split()[0],
}

# (kind, r) of every attention map the goldens cover.
MAPS_GRAD = [("softmax", None)] + [("rsoftmax", r) for r in (0.0, 0.25, 0.5, 0.9, 1.0)] + [
    ("sparsemax", None), ("entmax15", None)]
MAPS_F64 = [("softmax", None), ("rsoftmax", 0.5), ("sparsemax", None)]
MAPS_SGD = [("softmax", None)] + [("rsoftmax", r) for r in (0.25, 0.5, 0.9)] + [
    ("sparsemax", None), ("entmax15", None)]

written = []  # (path, tensors, bytes) for the summary


def map_tag(kind, r):
    return kind if r is None else f"{kind}_r{r:g}"


def attn_impl(kind, r):
    # softmax goes through transformers' own eager attention, unmodified.
    return "eager" if kind == "softmax" else attn_ref.register(kind, r)


def save_tensors(path, tensors):
    """tensors: name -> numpy array (already int32 / float32 / float64)."""
    for name, a in tensors.items():
        assert a.dtype in (np.int32, np.float32, np.float64), (name, a.dtype)
    safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, path)
    written.append((path, len(tensors), os.path.getsize(path)))


def save_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")
    written.append((path, 0, os.path.getsize(path)))


def save_text(path, text):
    with open(path, "w") as f:
        f.write(text)
    written.append((path, 0, os.path.getsize(path)))


def i32(t):
    return t.detach().cpu().numpy().astype(np.int32)


def flt(t):
    a = t.detach().cpu().numpy()
    return a.astype(np.float64 if a.dtype == np.float64 else np.float32)


def pad_batch(encodings):
    """Right-pads a list of (ids, type_ids) with [PAD] = 0 and type 0."""
    lengths = [len(ids) for ids, _ in encodings]
    T = max(lengths)
    ids = torch.zeros(len(encodings), T, dtype=torch.long)
    types = torch.zeros(len(encodings), T, dtype=torch.long)
    for b, (a, t) in enumerate(encodings):
        ids[b, : len(a)] = torch.tensor(a)
        types[b, : len(t)] = torch.tensor(t)
    lengths = torch.tensor(lengths)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()
    return ids, types, lengths, mask


def max_diff(a, b):
    return float((a.detach().double() - b.detach().double()).abs().max())


# --------------------------------------------------------------------- A

SINGLES = [
    "Hi!",
    "Yes.",
    "unbelievably",
    "Worst. Purchase. Ever.",
    "The quick brown fox jumps over the lazy dog.",
    "A naïve café owner in Zürich sells crème brûlée.",
    "The 2 cats & 3 dogs cost $45.99 in total (tax included).",
    "I absolutely loved this movie; the acting was superb and the soundtrack unforgettable.",
    "It's not that the film is bad, it's that it never decides what it wants to be.",
    "When the lights finally went down and the first notes of the overture drifted through the old "
    "theatre, nobody in the audience could have guessed that the evening would end with the director "
    "walking onto the stage, apologising for the broken projector, and then telling the whole story "
    "himself, scene by scene, with nothing but a flashlight, two chairs and a borrowed umbrella, "
    "while the orchestra improvised quietly behind him until well past midnight and the ushers "
    "forgot to close the doors. Years later, people who had been there still argued about whether "
    "the broken projector had been an accident or the cleverest piece of staging they had ever seen, "
    "and the umbrella itself now hangs in a glass case in the lobby.",  # truncated to 128 tokens
]
PAIRS = [
    ("x", "y"),
    ("Is it raining?", "No."),
    ("How old are you?", "I am six years old."),
    ("Two men are fighting.", "Two men are dancing."),
    ("The cat sat on the mat.", "Dogs are loyal."),
    ("A man is playing a guitar.", "A person plays an instrument."),
    ("She didn't like it.", "She did not enjoy it at all."),
    ("What is the capital of France?",
     "Paris is the capital and most populous city of France, with an estimated population of over "
     "two million residents."),
    ("The stock market fell sharply on Monday after the central bank raised interest rates.",
     "Shares dropped."),
    ("The committee reviewed the proposal for three hours before deciding to postpone the vote.",
     "After a long discussion, the members agreed that more information was needed before any "
     "decision could be made about the budget."),
]


def gen_forward_minilm():
    tok = BertTokenizer.from_pretrained(MINILM)
    texts = [[s, None] for s in SINGLES] + [[a, b] for a, b in PAIRS]
    enc = []
    for a, b in texts:
        e = tok(a, b, truncation=True, max_length=128)
        enc.append((e["input_ids"], e["token_type_ids"]))
    ids, types, lengths, mask = pad_batch(enc)
    untruncated = [len(tok(a, b)["input_ids"]) for a, b in texts]
    assert int(lengths.max()) == 128 and max(untruncated) > 128

    model, info = BertForSequenceClassification.from_pretrained(
        MINILM, num_labels=2, attn_implementation="eager", output_loading_info=True)
    # Only the head is new: the pooler must come from the checkpoint.
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"], info
    gen = torch.Generator().manual_seed(20240501)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.randn(2, 384, generator=gen) * 0.2)
        model.classifier.bias.copy_(torch.tensor([0.03, -0.02]))
    model.eval()

    with torch.no_grad():
        out = model.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)
        hidden, pooled = out.last_hidden_state, out.pooler_output
        logits = model.classifier(pooled)
        full = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        assert max_diff(full, logits) == 0.0

        # Sanity (not stored): each input alone, unpadded, gives the same.
        worst = 0.0
        for b in range(len(texts)):
            n = int(lengths[b])
            o = model.bert(input_ids=ids[b:b + 1, :n], attention_mask=mask[b:b + 1, :n],
                           token_type_ids=types[b:b + 1, :n])
            worst = max(worst, max_diff(o.last_hidden_state[0], hidden[b, :n]),
                        max_diff(o.pooler_output[0], pooled[b]),
                        max_diff(model.classifier(o.pooler_output)[0], logits[b]))
        print(f"A: MiniLM alone vs padded batch (eager): max |diff| {worst:.2e}")

        sdpa = BertForSequenceClassification.from_pretrained(MINILM, num_labels=2,
                                                             attn_implementation="sdpa")
        sdpa.classifier.load_state_dict(model.classifier.state_dict())
        sdpa.eval()
        o = sdpa.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)
        real = mask.bool()
        print(f"A: eager vs sdpa: hidden(real tokens) {max_diff(o.last_hidden_state[real], hidden[real]):.2e}, "
              f"hidden(padding) {max_diff(o.last_hidden_state[~real], hidden[~real]):.2e}, "
              f"pooled {max_diff(o.pooler_output, pooled):.2e}")

    save_tensors(f"{GOLDEN}/forward_minilm.safetensors", {
        "input_ids": i32(ids), "token_type_ids": i32(types), "lengths": i32(lengths),
        "hidden": flt(hidden), "pooled": flt(pooled), "logits": flt(logits),
        "classifier.weight": flt(model.classifier.weight), "classifier.bias": flt(model.classifier.bias),
    })
    save_json(f"{GOLDEN}/forward_minilm.json", {
        "model": MINILM,
        "texts": texts,
        "untruncated_lengths": untruncated,
        "tokenizer": "transformers.BertTokenizer, truncation=True, max_length=128, right padding with [PAD]=0, type 0",
        "model_class": "BertForSequenceClassification (eager attention, eval, float32), pooler from the checkpoint",
        "classifier": "weight ~ N(0, 0.2^2) (torch.Generator seed 20240501), bias [0.03, -0.02]",
        "padding_note": "hidden at padded positions is what HF computes (padded queries attend to the real keys)",
        "versions": VERSIONS,
    })


# --------------------------------------------------------------------- B

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = [".", ",", "!", "?", "'", "-", ";", ":"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
WORDS = """the movie film was were is be it this that good bad great fun boring not no yes very and
but of to in at an my love hate like plot actor story best worst ever really so too long short
slow fast funny sad dull nice awful fine we you they he she all one two time end scene music
cast well made play watch look feel bright dark warm cold smart new old""".split()
SUFFIXES = ["##s", "##ing", "##ed", "##ly", "##er", "##est", "##y"]
VOCAB = SPECIALS + PUNCT + LETTERS + WORDS + SUFFIXES
assert len(set(VOCAB)) == len(VOCAB)

TOKENIZER_CONFIG = {
    "do_lower_case": True, "do_basic_tokenize": True, "tokenize_chinese_chars": True,
    "strip_accents": None, "never_split": None, "tokenizer_class": "BertTokenizer",
    "model_max_length": 64, "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
    "cls_token": "[CLS]", "mask_token": "[MASK]",
}
SPECIAL_MAP = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
               "cls_token": "[CLS]", "mask_token": "[MASK]"}


def tiny_config(num_labels):
    extra = ({"id2label": {0: "0", 1: "1"}, "label2id": {"0": 0, "1": 1}} if num_labels == 2
             else {"num_labels": 1, "problem_type": "regression"})
    return BertConfig(
        vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu",
        layer_norm_eps=1e-12, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        initializer_range=0.02, pad_token_id=0, position_embedding_type="absolute", **extra)


def perturb(module, seed):
    # Noise on every weight, bias and LayerNorm parameter so that no gradient
    # is trivially zero and LayerNorm's affine part is exercised.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in module.named_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)


def write_tokenizer_files(folder):
    save_text(f"{folder}/vocab.txt", "".join(t + "\n" for t in VOCAB))
    save_json(f"{folder}/tokenizer_config.json", TOKENIZER_CONFIG)
    save_json(f"{folder}/special_tokens_map.json", SPECIAL_MAP)


def save_model(model, folder):
    model.save_pretrained(folder)
    for name in ("config.json", "model.safetensors"):
        path = f"{folder}/{name}"
        written.append((path, 0, os.path.getsize(path)))


def center_dev_predictions(model, tok):
    """Shifts classifier.bias[1] so that the dev rows of part D get mixed
    predictions with an accuracy other than 1/2 (an all-equal or a flipped
    prediction would then fail an accuracy test).  Returns the smallest
    |logit margin| left."""
    enc = tok([s for s, _ in SGD_DEV], padding=True, return_tensors="pt")
    labels = torch.tensor([y for _, y in SGD_DEV])
    model.eval()
    with torch.no_grad():
        logits = model(**enc).logits
        margin = logits[:, 1] - logits[:, 0]
        ms = margin.sort().values
        best = None
        for k in range(1, len(ms)):  # threshold between consecutive margins
            shift = float(ms[k - 1] + ms[k]) / 2
            accuracy = float(((margin > shift).long() == labels).float().mean())
            gap = float((margin - shift).abs().min())
            if accuracy != 0.5 and (best is None or gap > best[1]):
                best = (shift, gap)
        model.classifier.bias[1] -= best[0]
    return best[1]


def gen_tiny_models():
    for folder in (TINY, TINY_STSB):
        os.makedirs(folder, exist_ok=True)
        write_tokenizer_files(folder)
    torch.manual_seed(1234)
    cls = BertForSequenceClassification(tiny_config(2))
    perturb(cls, 4321)
    gap = center_dev_predictions(cls, BertTokenizer.from_pretrained(TINY))
    assert gap > 1e-3, gap
    save_model(cls, TINY)

    torch.manual_seed(5678)
    reg = BertForSequenceClassification(tiny_config(1))
    reg.bert.load_state_dict(cls.bert.state_dict())  # the same encoder and pooler
    perturb(reg.classifier, 8765)
    save_model(reg, TINY_STSB)

    # Both reload with nothing missing or unexpected, under the HF names.
    for folder, model in ((TINY, cls), (TINY_STSB, reg)):
        m, info = BertForSequenceClassification.from_pretrained(folder, output_loading_info=True)
        assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
        for (n1, p1), (n2, p2) in zip(m.named_parameters(), model.named_parameters()):
            assert n1 == n2 and torch.equal(p1, p2), n1
        with safetensors.safe_open(f"{folder}/model.safetensors", "np") as f:
            assert sorted(f.keys()) == sorted(n for n, _ in model.named_parameters()), sorted(f.keys())
    tok = BertTokenizer.from_pretrained(TINY)
    assert len(tok) == len(VOCAB) and tok.convert_tokens_to_ids("[PAD]") == 0
    print("B: tiny vocab", len(VOCAB), "tokens; 'The films, slowly watching!' ->",
          tok.tokenize("The films, slowly watching!"))


# --------------------------------------------------------------------- C

GRAD_LENGTHS = [12, 9, 5, 2, 1]
GRAD_T = 12
CE_LABELS = [1, 0, 0, 1, 1]
MSE_TARGETS = [0.8, -0.5, 1.7, 0.1, -1.1]
GRAD_SEEDS = {"single": 100, "pair": 200}


def grad_batch(variant):
    """Token ids of the gradient batch: [CLS] ... [SEP], right-padded."""
    rng = np.random.default_rng(GRAD_SEEDS[variant])
    cls_id, sep_id = VOCAB.index("[CLS]"), VOCAB.index("[SEP]")
    rand = lambda k: [int(x) for x in rng.integers(len(SPECIALS), len(VOCAB), size=k)]
    enc = []
    for n in GRAD_LENGTHS:
        if n == 1:
            ids, types = [cls_id], [0]
        elif variant == "single" or n < 5:
            ids = [cls_id] + rand(n - 2) + [sep_id]
            # A pair row too short for two segments: its last token is type 1.
            types = [0] * n if variant == "single" else [0] * (n - 1) + [1]
        else:  # [CLS] a [SEP] b [SEP], type 1 on "b [SEP]"
            na = (n - 2) // 2
            nb = n - 3 - na
            ids = [cls_id] + rand(na) + [sep_id] + rand(nb) + [sep_id]
            types = [0] * (na + 2) + [1] * (nb + 1)
        enc.append((ids, types))
    ids, types, lengths, mask = pad_batch(enc)
    assert ids.shape == (len(GRAD_LENGTHS), GRAD_T)
    return ids, types, lengths, mask


def load_tiny(folder, kind, r, dtype=torch.float32):
    model = BertForSequenceClassification.from_pretrained(folder, attn_implementation=attn_impl(kind, r))
    model.eval()  # dropout off; gradients are still computed
    return model.to(dtype)


def loss_of(model, logits, target):
    if model.config.num_labels == 1:
        return F.mse_loss(logits.squeeze(-1), target)
    return F.cross_entropy(logits, target)


def forward_backward(model, ids, types, mask, target):
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, attention_mask=mask, token_type_ids=types, output_attentions=True)
    loss = loss_of(model, out.logits, target)
    loss.backward()
    return loss, out.logits, out.attentions


def zero_fraction(attentions, lengths):
    """Fraction of exactly-zero probabilities among real (query, key) pairs."""
    zeros = total = 0
    for a in attentions:  # [B, NH, T, T]
        for b, n in enumerate(lengths.tolist()):
            blk = a[b, :, :n, :n]
            zeros += int((blk == 0).sum())
            total += blk.numel()
    return zeros / total


def check_alone(model, ids, types, lengths, mask, logits):
    """Each row alone (no padding) must give the batch's logits: the padding rule."""
    worst = 0.0
    with torch.no_grad():
        for b, n in enumerate(lengths.tolist()):
            o = model(input_ids=ids[b:b + 1, :n], attention_mask=mask[b:b + 1, :n],
                      token_type_ids=types[b:b + 1, :n]).logits
            worst = max(worst, max_diff(o[0], logits[b]))
    return worst


def grad_golden(folder, kind, r, variant, dtype=torch.float32, suffix=""):
    ids, types, lengths, mask = grad_batch(variant)
    model = load_tiny(folder, kind, r, dtype)
    regression = model.config.num_labels == 1
    target = (torch.tensor(MSE_TARGETS, dtype=dtype) if regression else torch.tensor(CE_LABELS))
    loss, logits, attentions = forward_backward(model, ids, types, mask, target)
    tensors = {"input_ids": i32(ids), "token_type_ids": i32(types), "lengths": i32(lengths),
               "loss": flt(loss.reshape(1)), "logits": flt(logits)}
    tensors["targets" if regression else "labels"] = flt(target) if regression else i32(target)
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.dtype == dtype, name
        # The key bias cannot change any map's output (it shifts a whole
        # score row), so its true gradient is 0 and torch's is rounding noise.
        # r = 1 is one-hot: piecewise constant, no gradient reaches the scores.
        one_hot = r == 1.0 and (".attention.self.query." in name or ".attention.self.key." in name)
        if not (name.endswith("attention.self.key.bias") or one_hot):
            assert float(p.grad.abs().sum()) > 0, f"zero gradient for {name}"
        tensors[f"grad.{name}"] = flt(p.grad)
    tag = map_tag(kind, r)
    head = "mse_" if regression else ""
    path = f"{GOLDEN}/grad_{head}{tag}_{variant}{suffix}.safetensors"
    save_tensors(path, tensors)
    alone = check_alone(model, ids, types, lengths, mask, logits.detach())
    return path, loss.item(), zero_fraction(attentions, lengths), alone, model, logits.detach()


def finite_difference_check():
    """Sanity (not stored): central differences of the float64 loss against
    autograd for the maps that are differentiable as written (r-softmax is
    not: its threshold is held constant on purpose)."""
    ids, types, lengths, mask = grad_batch("pair")
    labels = torch.tensor(CE_LABELS)
    names = ["bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.1.attention.self.key.weight",
             "bert.embeddings.LayerNorm.weight", "bert.encoder.layer.0.intermediate.dense.bias"]
    for kind in ("softmax", "sparsemax", "entmax15"):
        model = load_tiny(TINY, kind, None, torch.float64)
        forward_backward(model, ids, types, mask, labels)
        params = dict(model.named_parameters())
        worst = 0.0
        for name in names:
            flat = params[name].data.view(-1)
            for idx in (0, 5, 17):
                old, h, losses = flat[idx].item(), 1e-6, []
                with torch.no_grad():
                    for x in (old + h, old - h):
                        flat[idx] = x
                        logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
                        losses.append(F.cross_entropy(logits, labels).item())
                    flat[idx] = old
                fd = (losses[0] - losses[1]) / (2 * h)
                worst = max(worst, abs(fd - params[name].grad.view(-1)[idx].item()))
        print(f"C: {kind} float64 autograd vs central differences (12 entries): max |diff| {worst:.1e}")
        assert worst < 1e-7, kind


def gen_grads():
    rows = []
    ref_softmax = attn_ref.register("softmax")
    for variant in ("single", "pair"):
        for kind, r in MAPS_GRAD:
            path, loss, zf, alone, model, logits = grad_golden(TINY, kind, r, variant)
            rows.append((path, loss, zf, alone))
            if kind == "softmax":
                # Our sliced reference softmax against HF's eager softmax.
                ids, types, lengths, mask = grad_batch(variant)
                ref = BertForSequenceClassification.from_pretrained(TINY, attn_implementation=ref_softmax).eval()
                _, ref_logits, _ = forward_backward(ref, ids, types, mask, torch.tensor(CE_LABELS))
                gdiff = max(max_diff(p.grad, q.grad) for p, q in zip(ref.parameters(), model.parameters()))
                print(f"C: reference softmax vs HF eager ({variant}): logits {max_diff(ref_logits, logits):.1e}, "
                      f"grads {gdiff:.1e}")
        for kind, r in MAPS_F64:
            path, loss, zf, alone, _, _ = (grad_golden(TINY, kind, r, variant, torch.float64, "_f64")
                                           if variant == "pair" else (None,) * 6)
            if path:
                rows.append((path, loss, zf, alone))
        path, loss, zf, alone, _, _ = grad_golden(TINY_STSB, "softmax", None, variant)
        rows.append((path, loss, zf, alone))
    finite_difference_check()
    for tag in ("softmax", "rsoftmax_r0.5", "sparsemax"):
        a = safetensors.numpy.load_file(f"{GOLDEN}/grad_{tag}_pair.safetensors")
        b = safetensors.numpy.load_file(f"{GOLDEN}/grad_{tag}_pair_f64.safetensors")
        worst = max(float(np.abs(a[k] - b[k]).max()) for k in a if k.startswith("grad."))
        print(f"C: {tag} pair, float32 vs float64 gradients: max |diff| {worst:.1e}")
    print("C: gradient goldens (loss, zero fraction of real attention probs, alone-vs-batch logits diff)")
    for path, loss, zf, alone in rows:
        print(f"   {os.path.basename(path):42s} loss {loss:.6f}  zeros {zf:6.1%}  alone {alone:.1e}")
        assert alone < 1e-5, path


# --------------------------------------------------------------------- D

SGD_TRAIN = [
    ("the film was really great , i love it !", 1),
    ("bad", 0),
    ("this movie is so boring and the plot is dull .", 0),
    ("we like watching the cast play well", 1),
    ("not good , not fun , too long and slowly made", 0),
    ("the music and the story were really nice", 1),
]
SGD_DEV = [
    ("a fun movie", 1),
    ("the worst film ever .", 0),
    ("it is not bad at all", 1),
    ("dull , slow and old", 0),
]
SGD_LR = 0.5


def gen_sgd():
    os.makedirs(SGD_DATA, exist_ok=True)
    for name, rows in (("train", SGD_TRAIN), ("dev", SGD_DEV)):
        save_text(f"{SGD_DATA}/{name}.tsv", "sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows))
    tok = BertTokenizer.from_pretrained(TINY)

    def encode(rows):
        enc = tok([s for s, _ in rows], padding=True, truncation=True, max_length=128, return_tensors="pt")
        assert not (enc["input_ids"] == VOCAB.index("[UNK]")).any(), "a word outside the tiny vocab"
        lengths = enc["attention_mask"].sum(-1)
        return enc["input_ids"], enc["token_type_ids"], lengths, enc["attention_mask"], torch.tensor([y for _, y in rows])

    ids, types, lengths, mask, labels = encode(SGD_TRAIN)
    for r in (0.25, 0.5, 0.9):
        bad = set(attn_ref.recipe_disagreements(r, ids.shape[1])) & set(lengths.tolist())
        assert not bad, f"r={r}: rows of length {bad} are ambiguous between torch and the doc recipe"
    print("D: train lengths", lengths.tolist(), "T =", ids.shape[1])
    for kind, r in MAPS_SGD:
        model = load_tiny(TINY, kind, r)
        loss, _, _ = forward_backward(model, ids, types, mask, labels)
        tensors = {"loss": flt(loss.reshape(1)), "input_ids": i32(ids), "token_type_ids": i32(types),
                   "lengths": i32(lengths), "labels": i32(labels)}
        with torch.no_grad():
            for name, p in model.named_parameters():
                p -= SGD_LR * p.grad
                tensors[name] = flt(p)
        save_tensors(f"{GOLDEN}/sgd_step_{map_tag(kind, r)}.safetensors", tensors)
        print(f"   sgd_step_{map_tag(kind, r)}: loss before the step {loss.item():.6f}")

    ids, types, lengths, mask, labels = encode(SGD_DEV)
    model = load_tiny(TINY, "softmax", None)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
    save_tensors(f"{GOLDEN}/sgd_dev_logits.safetensors", {
        "logits": flt(logits), "input_ids": i32(ids), "token_type_ids": i32(types),
        "lengths": i32(lengths), "labels": i32(labels)})
    print("D: dev lengths", lengths.tolist(), "predictions", logits.argmax(-1).tolist(),
          "labels", labels.tolist())


# ------------------------------------------------------------------ main

def main():
    if not os.path.isdir(MINILM) or not os.path.isdir(GOLDEN):
        sys.exit("run from the repository root (needs models/all-MiniLM-L6-v2 and tests/golden)")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for line in attn_ref.validate():
        print("doc vectors:", line)
    print("r-softmax row lengths where the doc's float32 rank and torch's double rank disagree "
          "on being whole (n <= 64):",
          {r: attn_ref.recipe_disagreements(r, 64) for r in (0.25, 0.5, 0.9)})
    gen_forward_minilm()
    gen_tiny_models()
    gen_grads()
    gen_sgd()
    save_json(f"{GOLDEN}/model_goldens.json", {
        "script": "tests/golden/gen_model_goldens.py (+ attn_ref.py)",
        "versions": VERSIONS,
        "grad_batch": {"lengths": GRAD_LENGTHS, "T": GRAD_T, "labels": CE_LABELS, "mse_targets": MSE_TARGETS,
                       "seeds": GRAD_SEEDS},
        "maps_grad": [map_tag(k, r) for k, r in MAPS_GRAD],
        "maps_f64": [map_tag(k, r) for k, r in MAPS_F64],
        "maps_sgd": [map_tag(k, r) for k, r in MAPS_SGD],
        "sgd_lr": SGD_LR,
        "conventions": [
            "ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4; rows right-padded with [PAD] and type 0",
            "lengths[b] = real tokens of row b; padding keys get p = 0 and take no part in the map",
            "grad batch single: [CLS] w.. [SEP]; pair: [CLS] a.. [SEP] b.. [SEP] with type 1 on 'b.. [SEP]'; "
            "the length-2 pair row is [CLS] [SEP] with types [0, 1]; the length-1 row is [CLS]",
            "dropout off (model.eval()); CE mean (labels) or MSE mean (targets)",
            "grad.<HF name> for every parameter; word_embeddings grad is dense [V, H]",
            "f64 files: whole model .double(); loss, logits and grads float64",
            "sgd_step: w - lr * grad on one full batch of all train rows, padded to the longest",
            "tiny_bert classifier.bias[1] was shifted so the dev predictions are mixed (accuracy 3/4)",
        ],
        "tiny_seeds": {"init": 1234, "noise": 4321, "stsb_init": 5678, "stsb_head_noise": 8765, "noise_std": 0.1},
    })
    print(f"\n{'file':60s} {'tensors':>7s} {'bytes':>10s}")
    total = 0
    for path, n, size in written:
        print(f"{path:60s} {n if n else '':>7} {size:>10d}")
        total += size
    print(f"{'total':60s} {'':>7s} {total:>10d}")


if __name__ == "__main__":
    main()
