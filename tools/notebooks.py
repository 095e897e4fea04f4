"""Execute a notebook with nbclient on a kernel of this very interpreter.

A kernel spec is written into a folder of the caller's (a test's ``tmp_path``) and found through
``JUPYTER_PATH``, so the execution needs no kernel installed on the machine and cannot pick up
another Python (ipykernel's own ``python3`` spec runs whatever ``python`` is first on PATH).

    python -m tools.notebooks examples/notebook.ipynb      # execute it in a temporary folder
"""
import json
import os
import sys
import tempfile
from pathlib import Path

KERNEL = "lockstep-python"


def write_kernel_spec(folder: Path) -> Path:
    """``folder/kernels/KERNEL/kernel.json`` starting ``sys.executable -m ipykernel_launcher``; returns
    the folder to put on JUPYTER_PATH."""
    spec = Path(folder) / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({sys.executable})", "language": "python"}))
    return Path(folder)


def execute(notebook: Path, workdir: Path, timeout: int = 600):
    """The notebook executed top to bottom with ``workdir`` as its working directory (what it writes lands
    there); nbclient raises CellExecutionError naming the cell that failed. Returns the executed notebook."""
    import nbclient
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    jupyter = write_kernel_spec(Path(workdir) / ".jupyter-share")
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, (str(jupyter), previous)))
    try:
        client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=timeout,
                                         resources={"metadata": {"path": str(workdir)}})
        client.execute()
    finally:
        if previous is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = previous
    return nb


def outputs(nb) -> list[str]:
    """Each code cell's outputs as one text (stream text, text/plain and text/html joined)."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
        texts.append("\n".join(p if isinstance(p, str) else "".join(p) for p in parts))
    return texts


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as work:
        for text in outputs(execute(Path(sys.argv[1]), Path(work))):
            print(text[:2000])
            print("-" * 40)
