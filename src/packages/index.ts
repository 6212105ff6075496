// Installed app-service packages kept in the manager database (the seed: it
// "also contains the App service binaries to be able to restore applications
// in a failover case"). Every install writes the package there, as installed,
// in one transaction; at start (and after a Manager restore) the installed
// services are brought in line with it. So a Manager backup, a copy of the
// database or a standby brings the apps back. Files move in chunks: no file is
// ever held whole in memory. The schema is migration 3 (src/db/migrations.ts).
export { byInstaller, CHUNK_BYTES, deletePackage, markByInstaller, readPackage, storedPackages, storePackage, type PackageIdentity, type StoredPackage, type StoreOptions } from './store';
export { plan as planReconcile, reconcilePackages, type ReconcileOptions, type ReconcileResult, type Step as ReconcileStep } from './reconcile';
