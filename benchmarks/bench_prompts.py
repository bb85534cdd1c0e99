"""Prompt-side figures: `import workbench` time and 10,000-prompt template expansion.

Targets (issue 2): import <= 0.5 s; 10,000 combinatorial prompts < 1 s.
Baselines in the same run: a bare `python -c pass`, and dynamicprompts' own
CombinatorialPromptGenerator on the same template and wildcards.
"""

from common import fresh_process_seconds, record, timeit

TEMPLATE = "a {red|green|blue|yellow|black} {cat|dog|house|tree|car} on {a hill|the moon}, __decades__, __render_engines__"


def main():
    bare = fresh_process_seconds("pass")
    ours = fresh_process_seconds("import workbench, workbench.prompts")
    rows = [{"what": "import workbench, workbench.prompts", "seconds": ours, "python_startup": bare,
             "over_startup": ours - bare, "target_s": 0.5}]

    from dynamicprompts.generators import CombinatorialPromptGenerator

    from workbench.prompts.templates import TemplateExpander

    expander = TemplateExpander()
    raw = CombinatorialPromptGenerator(expander._manager)
    assert expander.expand(TEMPLATE, n=10_000) == raw.generate(TEMPLATE, max_prompts=10_000)  # same prompts
    t_ours = timeit(lambda: expander.expand(TEMPLATE, n=10_000), repeat=5)
    t_raw = timeit(lambda: raw.generate(TEMPLATE, max_prompts=10_000), repeat=1, warmup=0)
    rows.append({"what": "expand 10,000 combinatorial prompts", "seconds": t_ours, "dynamicprompts_s": t_raw,
                 "speedup": t_raw / t_ours, "target_s": 1.0})
    record("prompts", rows)


if __name__ == "__main__":
    main()
