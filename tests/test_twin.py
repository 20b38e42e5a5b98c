"""The decoding copy (``rldistill.twin``): prepacked linear weights compute what the model computes, follow the
model's updates, leave the model itself alone, and give way (with a warning) where a model does not fit them."""

import copy
import gc
import types
import weakref

import pytest
import torch

from rldistill.generation import stream_generate
from rldistill.models import load_model_and_tokenizer
from rldistill.twin import PackedLinear, decode_copy

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="packing needs oneDNN")


@pytest.fixture()
def tiny(tiny_student):
    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer(str(tiny_student))
    prompts = [tok(f"Question: Compute {a}+{b}*{c}. Answer:")["input_ids"] for a, b, c in [(1, 2, 3), (4, 5, 6),
                                                                                          (7, 8, 9), (2, 9, 4)]]
    return model, tok, prompts


def _packed(m) -> list:
    return [x for x in m.modules() if isinstance(x, PackedLinear)]


def test_packed_copy_computes_the_models_logits_and_leaves_the_model_alone(tiny):
    model, _, prompts = tiny
    twin = decode_copy(model, None, pack=True)
    assert twin is not model
    n_linear = sum(type(x) is torch.nn.Linear for x in model.modules())
    assert len(_packed(twin)) == n_linear > 0  # every linear layer, the vocabulary projection included
    assert not _packed(model) and {p.dtype for p in model.parameters()} == {torch.float32}
    ids = torch.tensor([prompts[0]])
    with torch.inference_mode():
        want, got = model(input_ids=ids).logits, twin(input_ids=ids).logits
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
    assert decode_copy(twin, None, pack=True) is twin  # a copy handed on is not copied again


def test_packed_decoding_gives_the_unpacked_greedy_text(tiny):
    model, tok, prompts = tiny
    packed = stream_generate(model, tok, prompts, max_new_tokens=12, batch_size=4)
    assert packed == stream_generate(model, tok, prompts, max_new_tokens=12, batch_size=4, pack=False)


def test_packed_copy_follows_an_update_of_the_model(tiny):
    model, _, prompts = tiny
    twin = decode_copy(model, None, pack=True)
    with torch.no_grad():  # an optimizer step, in place
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    assert decode_copy(model, None, pack=True) is twin
    ids = torch.tensor([prompts[1]])
    with torch.inference_mode():
        want, got = model(input_ids=ids).logits, twin(input_ids=ids).logits
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))


def test_bfloat16_packed_copy_equals_the_unpacked_bfloat16_copy(tiny):
    model, _, prompts = tiny
    packed, plain = decode_copy(model, torch.bfloat16, pack=True), decode_copy(model, torch.bfloat16)
    assert _packed(packed) and not _packed(plain) and packed is not plain
    ids = torch.tensor([prompts[2]])
    with torch.inference_mode():
        a, b = packed(input_ids=ids).logits.float(), plain(input_ids=ids).logits.float()
    assert torch.allclose(a, b, rtol=2e-2, atol=2e-2 * float(b.abs().max()))


def test_a_model_that_reads_a_linear_weight_is_decoded_unpacked_with_a_warning(tiny):
    model, tok, prompts = tiny
    model = copy.deepcopy(model)
    mlp = model.model.layers[0].mlp
    forward = type(mlp).forward
    # a forward that reads .weight (some models cast their input to a projection's dtype): packing cannot serve it
    mlp.forward = types.MethodType(lambda self, x: forward(self, x.to(self.down_proj.weight.dtype)), mlp)
    with pytest.warns(UserWarning, match="without prepacked weights"):
        assert decode_copy(model, None, pack=True) is model
    with pytest.warns(UserWarning, match="without prepacked weights"):
        cast = decode_copy(model, torch.bfloat16, pack=True)  # a cast copy is still made, unpacked
    assert not _packed(cast) and {p.dtype for p in cast.parameters()} == {torch.bfloat16}
    assert stream_generate(model, tok, prompts, max_new_tokens=6, batch_size=4)  # and decoding still works


def test_peft_models_are_decoded_unpacked(tiny):
    peft = pytest.importorskip("peft")
    model, _, _ = tiny
    lora = peft.get_peft_model(copy.deepcopy(model), peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    assert decode_copy(lora, None, pack=True) is lora


def test_the_copy_does_not_keep_its_model_alive(tiny):
    model = copy.deepcopy(tiny[0])
    decode_copy(model, None, pack=True)
    decode_copy(model, torch.bfloat16, pack=True)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None  # the cache's key is weak, and its copies hold nothing of the model


def test_packing_can_be_turned_off_from_the_environment(tiny, monkeypatch):
    model = copy.deepcopy(tiny[0])
    monkeypatch.setenv("RLDISTILL_PACK_WEIGHTS", "0")
    assert decode_copy(model, None, pack=True) is model
    assert not _packed(decode_copy(model, torch.bfloat16, pack=True))  # a dtype still gets its (unpacked) copy
