// The Manager: its HTTP API and UI transport (http.ts, used by the webserver),
// its event stream (events.ts), origin rules and transfers.
export { ManagerEvents } from './events';
