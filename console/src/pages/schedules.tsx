import { type FormEvent, useState } from 'react';
import { toProblem, useApi, useLoad } from '../hooks.ts';
import type { BackupSchedule, CreateScheduleRequest, Interval, Problem, Weekday } from '../types.ts';
import { Confirm, FormDialog } from '../ui/dialogs.tsx';
import { FieldError, fieldMessages, ProblemView } from '../ui/problem.tsx';
import { Status, when } from '../ui/status.tsx';

const WEEKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

const numbers = (text: string) =>
  text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part)) as number[];

const timing = (schedule: BackupSchedule) => {
  const minutes = schedule.minutes.map((minute) => String(minute).padStart(2, '0'));
  if (schedule.interval === 'hourly') return `every hour at :${minutes.join(', :')}`;
  const times = (schedule.hours ?? []).flatMap((hour) =>
    minutes.map((minute) => `${String(hour).padStart(2, '0')}:${minute}`),
  );
  const days = schedule.interval === 'weekly' ? `${(schedule.days ?? []).join(', ')} at ` : 'daily at ';
  return `${days}${times.join(', ')} UTC`;
};

/** An addon's backup schedules: create, edit, delete. */
export const Schedules = ({ projectId, addonId }: { projectId: string; addonId: string }) => {
  const api = useApi();
  const schedules = useLoad(() => api.schedules(projectId, addonId), [api, projectId, addonId]);
  return (
    <section aria-labelledby="schedules-title">
      <div className="heading">
        <h2 id="schedules-title">Backup schedules</h2>
        <FormDialog
          title="New backup schedule"
          trigger={
            <button type="button" className="primary">
              New schedule
            </button>
          }
        >
          {(close) => (
            <ScheduleForm
              submitLabel="Create schedule"
              onSubmit={async (body) => {
                await api.createSchedule(projectId, addonId, body);
                schedules.reload();
                close();
              }}
            />
          )}
        </FormDialog>
      </div>
      <ProblemView problem={schedules.problem} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Type</th>
              <th scope="col">Retention</th>
              <th scope="col">Last run</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(schedules.data?.items ?? []).map((schedule) => (
              <tr key={schedule.id} data-schedule={schedule.id}>
                <td data-label="When">
                  {timing(schedule)}
                  {schedule.enabled ? '' : ' (paused)'}
                </td>
                <td data-label="Type">{schedule.type}</td>
                <td data-label="Retention">{schedule.retentionDays} days</td>
                <td data-label="Last run">
                  {schedule.lastRun ? (
                    <>
                      {when(schedule.lastRun.at)} <Status value={schedule.lastRun.outcome} />
                    </>
                  ) : (
                    'never'
                  )}
                </td>
                <td data-label="Actions" className="row-actions">
                  <FormDialog
                    title="Edit backup schedule"
                    trigger={
                      <button
                        type="button"
                        className="small"
                        aria-label={`Edit schedule ${timing(schedule)}`}
                      >
                        Edit
                      </button>
                    }
                  >
                    {(close) => (
                      <ScheduleForm
                        initial={schedule}
                        submitLabel="Save schedule"
                        onSubmit={async (body) => {
                          await api.updateSchedule(projectId, addonId, schedule.id, body);
                          schedules.reload();
                          close();
                        }}
                      />
                    )}
                  </FormDialog>
                  <Confirm
                    title="Delete this schedule?"
                    description={
                      <p>No more backups are taken on it; the backups it took stay until they expire.</p>
                    }
                    confirmLabel="Delete schedule"
                    trigger={
                      <button
                        type="button"
                        className="small danger"
                        aria-label={`Delete schedule ${timing(schedule)}`}
                      >
                        Delete
                      </button>
                    }
                    onConfirm={async () => {
                      await api.deleteSchedule(projectId, addonId, schedule.id);
                      schedules.reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {schedules.data && !schedules.data.items.length ? <p>No schedules.</p> : null}
    </section>
  );
};

const ScheduleForm = ({
  initial,
  submitLabel,
  onSubmit,
}: {
  initial?: BackupSchedule;
  submitLabel: string;
  onSubmit: (body: CreateScheduleRequest) => Promise<void>;
}) => {
  const [interval, setInterval] = useState<Interval>(initial?.interval ?? 'daily');
  const [problem, setProblem] = useState<Problem>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const minutes = numbers(String(form.get('minutes') ?? ''));
    const hours = numbers(String(form.get('hours') ?? ''));
    const retentionDays = Number(form.get('retentionDays'));
    const timing =
      interval === 'hourly'
        ? { interval, minutes, retentionDays }
        : interval === 'daily'
          ? { interval, hours, minutes, retentionDays }
          : { interval, days: form.getAll('days') as Weekday[], hours, minutes, retentionDays };
    const body: CreateScheduleRequest = {
      ...timing,
      type: form.get('type') === 'snapshot' ? 'snapshot' : 'dump',
      ...(initial ? { enabled: form.get('enabled') === 'on' } : {}),
    };
    setBusy(true);
    setProblem(undefined);
    try {
      await onSubmit(body);
    } catch (error) {
      setProblem(toProblem(error));
    } finally {
      setBusy(false);
    }
  };
  const field = (name: string, label: string, hint: string, defaultValue: string, type = 'text') => {
    const messages = fieldMessages(problem, name);
    return (
      <>
        <label htmlFor={`schedule-${name}`}>{label}</label>
        <input
          id={`schedule-${name}`}
          name={name}
          type={type}
          inputMode="numeric"
          defaultValue={defaultValue}
          aria-invalid={messages.length > 0}
          aria-describedby={`schedule-${name}-hint schedule-${name}-error`}
        />
        <span id={`schedule-${name}-hint`} className="hint">
          {hint}
        </span>
        <FieldError id={`schedule-${name}-error`} messages={messages} />
      </>
    );
  };
  return (
    <form onSubmit={submit} noValidate>
      <ProblemView problem={problem} />
      <label htmlFor="schedule-interval">Interval</label>
      <select
        id="schedule-interval"
        value={interval}
        onChange={(event) => setInterval(event.target.value as Interval)}
      >
        <option value="hourly">Hourly</option>
        <option value="daily">Daily</option>
        <option value="weekly">Weekly</option>
      </select>
      {interval === 'weekly' ? (
        <fieldset>
          <legend>Days</legend>
          {WEEKDAYS.map((day) => (
            <label key={day} className="check">
              <input
                type="checkbox"
                name="days"
                value={day}
                defaultChecked={initial?.days?.includes(day) ?? day === 'sun'}
              />{' '}
              {day}
            </label>
          ))}
          <FieldError id="schedule-days-error" messages={fieldMessages(problem, 'days')} />
        </fieldset>
      ) : null}
      {interval === 'hourly'
        ? null
        : field('hours', 'Hours (UTC)', 'Comma-separated, 0 to 23', (initial?.hours ?? [3]).join(', '))}
      {field('minutes', 'Minutes', 'Comma-separated, 0 to 59', (initial?.minutes ?? [0]).join(', '))}
      {field(
        'retentionDays',
        'Retention (days)',
        'Hourly: up to 7, daily: up to 60, weekly: up to 120',
        String(initial?.retentionDays ?? 7),
        'number',
      )}
      <label htmlFor="schedule-type">Backup type</label>
      <select id="schedule-type" name="type" defaultValue={initial?.type ?? 'dump'}>
        <option value="dump">Dump</option>
        <option value="snapshot">Snapshot</option>
      </select>
      {initial ? (
        <label className="check">
          <input type="checkbox" name="enabled" defaultChecked={initial.enabled} /> Enabled
        </label>
      ) : null}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Saving…' : submitLabel}
        </button>
      </div>
    </form>
  );
};
