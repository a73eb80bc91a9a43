#!/usr/bin/env python3
"""Goldens for the XLM-RoBERTa family (SentencePiece tokenizer, positions
from padding_idx + 1, classification head classifier.dense / .out_proj),
from transformers on the CPU.  Run from the repository root:

    python3 tests/golden/gen_xlmr_golden.py

Writes
  tests/golden/tiny_xlmr/            a tiny random XLMRobertaForSequenceClassification
                                     (tokenizer: tests/golden/tok_xlmr_tiny's model)
  tests/golden/xlmr_data/RTE/        6 train and 4 dev pairs in GLUE's RTE layout
  tests/golden/xlmr_grads.safetensors  ids, logits, loss and every gradient
                                     for the train rows as one padded batch
  tests/golden/xlmr_sgd_step.safetensors  every parameter after one SGD step
                                     (lr 0.5, full batch, dropout 0)
"""
import json
import os
import shutil

import numpy as np
import torch
from safetensors.numpy import save_file
from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForSequenceClassification

GOLDEN = "tests/golden"
OUT = f"{GOLDEN}/tiny_xlmr"
DATA = f"{GOLDEN}/xlmr_data/RTE"
LABELS = ["entailment", "not_entailment"]
TRAIN = [
    ("The cat sat on the mat.", "A cat is sitting.", "entailment"),
    ("Paris is the capital of France.", "Berlin is in France.", "not_entailment"),
    ("Der Hund schläft im Garten.", "Ein Tier schläft.", "entailment"),
    ("It rained all day in the city.", "The weather was dry.", "not_entailment"),
    ("Le chat mange du poisson frais tous les jours.", "Le chat mange.", "entailment"),
    ("Numbers like 3.14 and 2,718 appear here.", "No numbers appear.", "not_entailment"),
]
DEV = [
    ("She bought three apples.", "She bought fruit.", "entailment"),
    ("The train left at noon.", "The train never left.", "not_entailment"),
    ("Los niños juegan en el parque.", "Los niños están afuera.", "entailment"),
    ("He is a teacher.", "He teaches.", "entailment"),
]


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("index\tsentence1\tsentence2\tlabel\n")
        for i, (a, b, y) in enumerate(rows):
            f.write(f"{i}\t{a}\t{b}\t{y}\n")


def main():
    torch.manual_seed(1234)
    torch.set_num_threads(1)
    os.makedirs(DATA, exist_ok=True)
    write_tsv(f"{DATA}/train.tsv", TRAIN)
    write_tsv(f"{DATA}/dev.tsv", DEV)

    cfg = XLMRobertaConfig(vocab_size=1002, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=37, max_position_embeddings=66, type_vocab_size=1,
                           pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5,
                           hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, num_labels=2,
                           id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})
    model = XLMRobertaForSequenceClassification(cfg)
    with torch.no_grad():  # every parameter moved off its init so no gradient is trivially 0
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    shutil.rmtree(OUT, ignore_errors=True)
    model.save_pretrained(OUT)
    for f in ("sentencepiece.bpe.model", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(f"{GOLDEN}/tok_xlmr_tiny/{f}", f"{OUT}/{f}")
    tok = AutoTokenizer.from_pretrained(OUT)
    reloaded = XLMRobertaForSequenceClassification.from_pretrained(OUT)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reloaded.state_dict().values()))

    enc = tok([a for a, _, _ in TRAIN], [b for _, b, _ in TRAIN], truncation=True, max_length=64,
              padding=True, return_tensors="pt")
    labels = torch.tensor([LABELS.index(y) for _, _, y in TRAIN])
    model.eval()  # dropout off; gradients still flow
    out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels)
    model.zero_grad()
    out.loss.backward()
    tensors = {
        "input_ids": enc["input_ids"].int().numpy(),
        "lengths": enc["attention_mask"].sum(1).int().numpy(),
        "labels": labels.int().numpy(),
        "logits": out.logits.detach().numpy(),
        "loss": out.loss.detach().reshape(1).numpy(),
    }
    for name, p in model.named_parameters():
        tensors[f"grad.{name}"] = p.grad.numpy().copy()
    save_file(tensors, f"{GOLDEN}/xlmr_grads.safetensors")

    with torch.no_grad():  # one plain SGD step, w -= 0.5 * grad
        step = {name: (p - 0.5 * p.grad).numpy().copy() for name, p in model.named_parameters()}
    step["loss"] = out.loss.detach().reshape(1).numpy()
    save_file(step, f"{GOLDEN}/xlmr_sgd_step.safetensors")
    print(json.dumps({"train_lengths": tensors["lengths"].tolist(), "loss": out.loss.item(),
                      "params": len(list(model.named_parameters()))}))


if __name__ == "__main__":
    main()
