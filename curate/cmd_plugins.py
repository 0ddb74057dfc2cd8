"""``curate plugins``: list the installed stages and their parameters."""
from __future__ import annotations


def plugins() -> None:
    """List every stage registered under the `curate.plugins` entry points, with its parameters.

    Example: curate plugins
    """
    from .console import Table, escape, make_console
    from .engine import discovery

    console = make_console()
    eps = discovery.available()
    for name, ep in sorted(eps.items()):
        try:
            cls = discovery.load_class(name, eps)
        except Exception as e:  # a broken third-party plugin must not hide the others
            console.print(f"[bold red]{escape(name)}[/]  ({escape(ep.value)}) failed to load: "
                          f"{escape(e)}")
            continue
        console.print(f"[bold cyan]{escape(name)}[/]  {escape(cls.summary)}  "
                      f"[dim]({escape(ep.value)})[/]")
        if cls.params:
            table = Table(show_header=True, box=None, padding=(0, 2))
            for col in ("parameter", "type", "default", "meaning"):
                table.add_column(col)
            for pname, p in cls.params.items():
                kind = p.type + (f" {{{'|'.join(map(str, p.choices))}}}" if p.choices else "")
                table.add_row(escape(f"{name}.{pname}"), escape(kind),
                              escape(p.describe_default()), escape(p.help))
            console.print(table)
        console.print()
