"""Memory bounds (`graphviz_grad.limits`) and the command line's ``--memory`` / ``--job-memory``."""

import subprocess
import sys

import pytest

from graphviz_grad import limits
from graphviz_grad.cli import main

HOSTILE = "L = a**a**a**a"  # at a = 10: its exact value would need gigabytes; the check caps it


@pytest.mark.parametrize("text, size", [("512M", 512 * 2**20), ("2g", 2 * 2**30), ("1.5G", 3 * 2**29),
                                        ("300000000", 300_000_000), ("256 MiB", 256 * 2**20)])
def test_sizes(text, size):
    assert limits.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "-1G", "12X", "1e9", "100M"])
def test_bad_sizes(text):
    with pytest.raises(limits.SizeError):
        limits.parse_size(text)


def test_a_bound_only_goes_down_in_a_child_process():
    code = ("import resource; from graphviz_grad.limits import limit_memory, memory_limit; "
            "limit_memory(1 << 30); limit_memory(2 << 30); print(memory_limit())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == 1 << 30


@pytest.mark.parametrize("command", [["check", HOSTILE, "--at", "a=10"],
                                     ["calc", "--formula", HOSTILE, "--at", "a=10"]])
def test_a_check_over_its_memory_is_one_line_and_exit_3(command):
    # the tower itself no longer needs the memory (the check never computes a power past its cap:
    # docs/check.md), so the check is made to run out of memory here
    code = ("import sys\nimport graphviz_grad.symbolic as symbolic\nfrom graphviz_grad.cli import main\n"
            "def out_of_memory(*args, **kwargs):\n    raise MemoryError\n"
            f"symbolic.check = out_of_memory\nsys.exit(main({[*command, '--memory', '400M']!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "needed more than 400 MB of memory" in done.stderr and "--memory" in done.stderr


@pytest.mark.parametrize("command", [["check", HOSTILE, "--at", "a=10"],
                                     ["calc", "--formula", HOSTILE, "--at", "a=10"]])
def test_the_tower_answers_well_within_the_bound(command):
    done = subprocess.run([sys.executable, "-m", "graphviz_grad", *command, "--memory", "400M"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_memory_options_in_help(capsys):
    assert main(["serve", "--help"]) == 0
    assert "--job-memory" in capsys.readouterr().out
    assert main(["check", "--help"]) == 0
    assert "--memory" in capsys.readouterr().out
    assert main(["check", "L = a", "--at", "a=1", "--memory", "12X"]) == 2
    assert "expected a size such as 512M" in capsys.readouterr().err


def test_a_command_run_in_process_leaves_the_process_limit_as_it_was(capsys):
    import resource


    before = resource.getrlimit(resource.RLIMIT_AS)
    assert main(["check", "L = a*b", "--at", "a=1,b=2", "--memory", "1G"]) == 0
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_the_bound_counts_on_top_of_what_the_process_has_already_reserved():
    # a notebook that loaded PyTorch can hold well over 2 GB of address space; a command run
    # in it must get the same room as in a fresh process, not fail its first allocation
    import mmap

    import psutil

    from graphviz_grad.limits import address_space, memory_bound, memory_limit

    spare = mmap.mmap(-1, 3 * 2**30)  # reserved, never touched: address space, no memory
    try:
        assert address_space() >= 3 * 2**30
        with memory_bound(256 * 2**20):
            assert memory_limit() >= address_space() + 200 * 2**20
            assert sum(len(bytearray(2**20)) for _ in range(50)) == 50 * 2**20
            assert psutil.Process().memory_info().vms <= memory_limit()
    finally:
        spare.close()
