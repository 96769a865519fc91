"""Models: the registry (versions, stages, gates), promotion, and training jobs."""

import streamlit as st

from core import dashboard as dash
from pages import _shared as ui

ui.frame()

st.title("Models")
st.caption(
    "Calibrators registered from the Calibration page, or trained by jobs, live here as versions "
    "of a model. A version is evaluated out of sample (on trades it was not fitted on) before it "
    "may be promoted; every stage change is recorded with its reason."
)
engine = ui.engine()
run = ui.selected_run()
if run is None:
    ui.empty_store()
else:
    ui.mapping_caption(run, applies=False)

registry, compare, jobs = st.tabs(["Registry", "Compare versions", "Training jobs"])

with registry:
    versions = None
    with ui.shown_errors():
        versions = dash.models_table(engine)
    if versions is not None and versions.empty:
        st.info(
            "No model registered yet. Fit calibrators on the Calibration page and register the "
            "best one, or submit a training job (next tab).",
            icon=":material/info:",
        )
    elif versions is not None:
        st.dataframe(
            versions,
            hide_index=True,
            width="stretch",
            column_config={
                "version": st.column_config.NumberColumn("Version", format="%d"),
                "train_start": st.column_config.DatetimeColumn("Trained from", format="YYYY-MM-DD"),
                "train_end": st.column_config.DatetimeColumn("Trained to", format="YYYY-MM-DD"),
                "created": st.column_config.DatetimeColumn(
                    "Created (UTC)", format="YYYY-MM-DD HH:mm"
                ),
                "last_evaluation_passed": st.column_config.CheckboxColumn("Last evaluation passed"),
            },
        )
        choices = {
            f"{n} v{v}": (n, int(v))
            for n, v in zip(versions["name"], versions["version"], strict=True)
        }
        picked = st.selectbox("Version", list(choices), key="models_pick")
        name, version = choices[picked]
        with ui.shown_errors():
            detail = dash.version_detail(engine, name, version)
            v = detail.version
            st.markdown(
                f"**{dash.md_text(v.name)} v{v.version}** · stage **{v.stage}** · {dash.md_text(v.model_type)}"
                + (f" ({v.method})" if v.method else "")
                + f" · reads {dash.KEY_LABELS.get(v.key, v.key).lower()}"
                + (f" · note: {v.note}" if v.note else "")
            )
            c1, c2 = st.columns(2)
            with c1:
                st.markdown("**Metrics**")
                st.dataframe(detail.metrics, hide_index=True, width="stretch")
                st.markdown("**Gates of the last evaluation**")
                if detail.gates.empty:
                    st.caption("Not evaluated yet.")
                else:
                    st.dataframe(
                        detail.gates,
                        hide_index=True,
                        width="stretch",
                        column_config={
                            "observed": st.column_config.NumberColumn("Observed", format="%.4g"),
                            "passed": st.column_config.CheckboxColumn("Passed"),
                        },
                    )
            with c2:
                st.markdown("**Evaluations**")
                st.dataframe(detail.evaluations, hide_index=True, width="stretch")
                st.markdown("**Stage history**")
                st.dataframe(detail.history, hide_index=True, width="stretch")

        st.markdown("**Evaluate out of sample**")
        with st.form("evaluate"):
            gates = st.text_area(
                "Gates (one per line: metric operator value)",
                value=dash.DEFAULT_GATE_TEXT,
                key="models_gates",
            )
            st.caption(
                f"On the selected run: {dash.md_text(dash.run_label(run)) if run else 'no run selected'}."
            )
            evaluate = st.form_submit_button(
                "Evaluate", disabled=run is None, key="models_eval_submit"
            )
        if evaluate and run is not None:
            with ui.shown_errors("Evaluation failed: "):
                result = dash.evaluate_version(engine, name, version, run_id=run.id, gates=gates)
                (st.success if result.passed else st.warning)(
                    f"{'Passed' if result.passed else 'Failed'}: {result.n_trades:,} out-of-sample "
                    "trades. "
                    + "; ".join(f"{g.gate}: {'ok' if g.passed else 'FAIL'}" for g in result.gates)
                )

        st.markdown("**Change stage**")
        with st.form("stage"):
            c1, c2, c3 = st.columns([1, 2, 1])
            to_stage = c1.selectbox(
                "To stage", ["staging", "production", "archived", "development"], key="models_stage"
            )
            reason = c2.text_input("Reason (recorded)", key="models_reason")
            force = c3.checkbox(
                "Force",
                key="models_force",
                help="Promote without a passed evaluation (needs a reason).",
            )
            change = st.form_submit_button("Apply", key="models_stage_submit")
        if change:
            with ui.shown_errors("Refused: "):
                dash.change_stage(
                    engine, name, version, to_stage=to_stage, reason=reason, force=force
                )
                st.toast(f"{dash.md_text(name)} v{version} → {to_stage}", icon=":material/check:")
                st.rerun()

with compare:
    st.caption(
        "Two versions of one model on the same trades of the selected run: only the trades "
        "after both versions' training windows (out of sample for both). ECE, Brier and log "
        "loss with a paired block bootstrap of the difference B − A, and the verdict."
    )
    table = None
    with ui.shown_errors():
        table = dash.models_table(engine)
    if table is not None and not table.empty and run is not None:
        names = sorted(set(table["name"]))
        c1, c2, c3 = st.columns(3)
        model = c1.selectbox("Model", names, key="cmp_name")
        numbers = sorted(int(v) for v in table.loc[table["name"] == model, "version"])
        a = c2.selectbox("Version A", numbers, key="cmp_a")
        b = c3.selectbox("Version B", numbers, index=len(numbers) - 1, key="cmp_b")
        if st.button("Compare", key="cmp_go", disabled=a == b):
            with ui.shown_errors("Could not compare: "):
                trades = ui.trades(run)
                view = dash.version_view(engine.registry, model, int(a), int(b), trades=trades)
                st.plotly_chart(view.figures[0], key="cmp_chart")
                st.dataframe(view.result.table.reset_index(), hide_index=True, width="stretch")
                st.info(dash.md_text(view.result.verdict), icon=":material/balance:")
                st.caption(dash.md_text(view.note))
    else:
        st.caption("Register two versions of a model (Calibration page) to compare them.")

with jobs:
    with st.form("job"):
        c1, c2, c3 = st.columns(3)
        job_model = c1.text_input("Model name", value="confidence-calibrator", key="job_model")
        method = c2.selectbox("Calibrator", dash.CALIBRATION_METHODS, key="job_method")
        n_windows = int(c3.number_input("Walk-forward windows", 2, 50, 5, key="job_windows"))
        st.caption(
            f"Trains on the selected run: {dash.md_text(dash.run_label(run)) if run else 'no run selected'}."
        )
        submit = st.form_submit_button(
            "Submit training job", type="primary", disabled=run is None, key="job_submit"
        )
    if submit and run is not None:
        with ui.shown_errors("Could not submit the job: "):
            job = dash.submit_job(
                engine, model_name=job_model, method=method, run_id=run.id, n_windows=n_windows
            )
            st.toast(f"Job {job.id} queued.", icon=":material/schedule:")
    st.button("Refresh", key="jobs_refresh", icon=":material/refresh:")
    with ui.shown_errors():
        table = dash.jobs_table(engine)
        if table.empty:
            st.caption("No training job yet.")
        else:
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                column_config={
                    "created": st.column_config.DatetimeColumn(
                        "Created (UTC)", format="YYYY-MM-DD HH:mm:ss"
                    ),
                    "started": st.column_config.DatetimeColumn("Started", format="HH:mm:ss"),
                    "finished": st.column_config.DatetimeColumn("Finished", format="HH:mm:ss"),
                },
            )
