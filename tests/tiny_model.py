"""Build a tiny BERT sentence-transformers folder with a Korean WordPiece vocabulary.

It has random weights but the same module stack as ``jhgan/ko-sbert-multitask``
(BertModel -> mean Pooling), so it exercises the real loading and encoding path
without touching the network.

    >>> path = build_tiny_model("/tmp/tiny-ko-sbert")
    >>> kv.encode(["배송이 빨라요"], model=str(path))
"""

from __future__ import annotations

from pathlib import Path

# A few lines of original Korean so the vocabulary has Hangul pieces even
# when the bundled corpus is not importable.
_SEED_TEXT = [
    "배송이 너무 늦어서 환불을 요청했어요",
    "앱이 업데이트 후에 자꾸 꺼져요",
    "오늘 날씨가 맑고 미세먼지도 없네요",
    "강아지 사료를 바꿨더니 잘 먹어요",
    "은행 앱에서 카드 결제가 안 됩니다",
    "병원 예약을 했는데 대기 시간이 길어요",
    "학원 수업이 재미있고 선생님이 친절해요",
    "호텔 위치가 좋아서 여행이 편했어요",
    "이 식당 국물이 정말 맛있어요 ㅋㅋ",
]


def build_tiny_model(
    path,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    vocab_size: int = 2000,
    max_seq_length: int = 64,
    seed: int = 0,
    num_heads: int = 2,
    intermediate_size: int | None = None,
) -> Path:
    """Write a tiny ko-sbert-shaped sentence-transformers model to ``path`` and return it.

    ``build_tiny_model(p, hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072,
    vocab_size=32000, max_seq_length=128)`` gives BERT-base's shape (ko-sbert's) with random weights.
    """
    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece
    from tokenizers.processors import TemplateProcessing
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    texts = list(_SEED_TEXT)
    try:
        from kosbert_viz.datasets import load_sample

        texts += list(load_sample().text)
    except Exception:  # the builder must work before the package is importable
        pass

    normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    vocab = _wordpiece_vocab(texts, vocab_size, normalizer, pre_tokenizer)
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece()
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    hf_dir = path / "_hf"
    fast = BertTokenizerFast(
        tokenizer_object=tok, do_lower_case=False, strip_accents=False, model_max_length=max_seq_length
    )
    fast.save_pretrained(hf_dir)

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size or hidden_size * 2,
        max_position_embeddings=max_seq_length + 2,
    )
    BertModel(config).save_pretrained(hf_dir)

    word = models.Transformer(str(hf_dir), max_seq_length=max_seq_length)
    dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pooling = models.Pooling(dim(), pooling_mode="mean")
    st = SentenceTransformer(modules=[word, pooling], device="cpu")
    st.save(str(path))
    return path


_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _wordpiece_vocab(texts, vocab_size, normalizer, pre_tokenizer) -> dict:
    """A WordPiece vocabulary that is the same in every run.

    (The ``tokenizers`` WordPiece trainer breaks ties in hash order, so its vocabulary, and with
    it every test vector, changed from process to process.) Every character seen, alone and as a
    ``##`` continuation, so any word can be split; then the most frequent whole words, word starts
    and ``##`` word ends, ties broken by the piece itself.
    """
    from collections import Counter

    words = Counter()
    for text in texts:
        words.update(w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({ch for w in words for ch in w})
    pieces = Counter()
    for w, n in words.items():
        for i in range(2, len(w) + 1):
            pieces[w[:i]] += n
        for i in range(1, len(w) - 1):
            pieces["##" + w[i:]] += n
    vocab = _SPECIAL + chars + ["##" + ch for ch in chars]
    ranked = sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0]))
    vocab += [p for p, _ in ranked[: max(0, vocab_size - len(vocab))]]
    return {piece: i for i, piece in enumerate(vocab)}
